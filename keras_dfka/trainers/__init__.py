"""Trainers: `keras.Model` subclasses trained with `fit()`. `AmalgamGAN`
(stage 1), `DualGenerator` (stage 2) and `AdversarialAmalgamation` (both in
turns, the default schedule); their backend plumbing is in
`keras_dfka.backend`."""
