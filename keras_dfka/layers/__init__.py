"""Layers of keras-dfka that the TargetNet needs to load."""

from keras_dfka.layers.feature_filter import FeatureFilter
from keras_dfka.layers.label_select import LabelSelect

__all__ = ["FeatureFilter", "LabelSelect"]
