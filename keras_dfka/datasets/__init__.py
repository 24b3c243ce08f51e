"""Datasets: CelebA, labelled image folders, procedural faces, MNIST and
latent noise."""

from keras_dfka.datasets.celeba import CelebA
from keras_dfka.datasets.celeba import read_celeba_attribute_names
from keras_dfka.datasets.celeba import read_celeba_attributes
from keras_dfka.datasets.image_folder import find_label_column
from keras_dfka.datasets.image_folder import load_images
from keras_dfka.datasets.image_folder import read_labels_csv
from keras_dfka.datasets.latent_noise import LatentNoise
from keras_dfka.datasets.latent_noise import LatentSet
from keras_dfka.datasets.latent_noise import draw_latents
from keras_dfka.datasets.mnist import load_mnist_idx
from keras_dfka.datasets.procedural_faces import ProceduralFaces
from keras_dfka.datasets.procedural_faces import draw_face

__all__ = [
    "CelebA",
    "LatentNoise",
    "LatentSet",
    "ProceduralFaces",
    "draw_face",
    "draw_latents",
    "find_label_column",
    "load_images",
    "load_mnist_idx",
    "read_celeba_attribute_names",
    "read_celeba_attributes",
    "read_labels_csv",
]
