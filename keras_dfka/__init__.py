"""keras-dfka: data-free knowledge amalgamation for Keras 3.

Implements the Group-Stack Dual-GAN (Ye et al., CVPR 2020).
"""

from keras_dfka import callbacks
from keras_dfka import datasets
from keras_dfka import layers
from keras_dfka import losses
from keras_dfka.amalgam_gan import AmalgamGAN
from keras_dfka.dual_generator import DualGenerator
from keras_dfka.target_net import TargetNet
from keras_dfka.task import Task
from keras_dfka.teacher import Teacher

__version__ = "0.1.0"

__all__ = [
    "AmalgamGAN",
    "DualGenerator",
    "TargetNet",
    "callbacks",
    "Task",
    "Teacher",
    "datasets",
    "layers",
    "losses",
]
