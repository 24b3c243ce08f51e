"""Loss functions of keras-dfka, written in `keras.ops`."""

from keras_dfka.losses.distillation_losses import disagreement_loss
from keras_dfka.losses.distillation_losses import soft_cross_entropy
from keras_dfka.losses.gan_losses import activation_loss
from keras_dfka.losses.gan_losses import batch_norm_statistics_loss
from keras_dfka.losses.gan_losses import binary_cross_entropy
from keras_dfka.losses.gan_losses import discrete_loss
from keras_dfka.losses.gan_losses import information_entropy_loss
from keras_dfka.losses.gan_losses import latent_label_targets
from keras_dfka.losses.gan_losses import one_hot_loss
from keras_dfka.losses.gan_losses import total_variation_loss

__all__ = [
    "activation_loss",
    "batch_norm_statistics_loss",
    "binary_cross_entropy",
    "disagreement_loss",
    "discrete_loss",
    "information_entropy_loss",
    "latent_label_targets",
    "one_hot_loss",
    "soft_cross_entropy",
    "total_variation_loss",
]
