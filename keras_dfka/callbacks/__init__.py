"""Keras callbacks for data-free amalgamation runs."""

from keras_dfka.callbacks.amalgamation_monitor import AmalgamationMonitor
from keras_dfka.checkpoint import LatentEpoch
from keras_dfka.non_finite import NonFiniteError
from keras_dfka.non_finite import TerminateOnNonFinite

__all__ = [
    "AmalgamationMonitor",
    "LatentEpoch",
    "NonFiniteError",
    "TerminateOnNonFinite",
]
