"""Keras callbacks for data-free amalgamation runs, one per module."""

from keras_dfka.callbacks.amalgamation_monitor import AmalgamationMonitor
from keras_dfka.callbacks.latent_epoch import LatentEpoch
from keras_dfka.callbacks.terminate_on_non_finite import TerminateOnNonFinite
from keras_dfka.utils.non_finite import NonFiniteError

__all__ = [
    "AmalgamationMonitor",
    "LatentEpoch",
    "NonFiniteError",
    "TerminateOnNonFinite",
]
