"""Deployment: export a TargetNet to SavedModel, LiteRT or ONNX, checked
against the `.keras` model (`keras-dfka export`)."""

from keras_dfka.deployment.export import ExportResult
from keras_dfka.deployment.export import export_model

__all__ = ["ExportResult", "export_model"]
