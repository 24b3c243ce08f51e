"""Layers of keras-dfka: the filters the TargetNet needs to load, and the
sample pool of `AdversarialAmalgamation`."""

from keras_dfka.layers.feature_filter import FeatureFilter
from keras_dfka.layers.label_select import LabelSelect
from keras_dfka.layers.sample_pool import SamplePool

__all__ = ["FeatureFilter", "LabelSelect", "SamplePool"]
