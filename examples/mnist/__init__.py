"""Data-free distillation of one MNIST digit classifier."""
