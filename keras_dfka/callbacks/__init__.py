"""Keras callbacks for data-free amalgamation runs."""

from keras_dfka.callbacks.amalgamation_monitor import AmalgamationMonitor

__all__ = ["AmalgamationMonitor"]
