"""Datasets: CelebA, procedural faces, MNIST and latent noise."""

from keras_dfka.datasets.celeba import CelebA
from keras_dfka.datasets.celeba import read_celeba_attributes
from keras_dfka.datasets.latent_noise import LatentNoise
from keras_dfka.datasets.latent_noise import LatentSet
from keras_dfka.datasets.mnist import load_mnist_idx
from keras_dfka.datasets.procedural_faces import ProceduralFaces
from keras_dfka.datasets.procedural_faces import draw_face

__all__ = [
    "CelebA",
    "LatentNoise",
    "LatentSet",
    "ProceduralFaces",
    "draw_face",
    "load_mnist_idx",
    "read_celeba_attributes",
]
