"""Evaluation: metrics (`metrics`), model cost (`cost`), label coverage of
generated images (`coverage`) and reports (`reports`).

The functions of the four modules are also available here, e.g.
`keras_dfka.evaluation.roc_auc`.
"""

from keras_dfka.evaluation.cost import count_params
from keras_dfka.evaluation.cost import inference_time
from keras_dfka.evaluation.coverage import coverage_warnings
from keras_dfka.evaluation.coverage import label_coverage
from keras_dfka.evaluation.metrics import accuracy
from keras_dfka.evaluation.metrics import balanced_accuracy
from keras_dfka.evaluation.metrics import binary_report
from keras_dfka.evaluation.metrics import gap_closed
from keras_dfka.evaluation.metrics import roc_auc
from keras_dfka.evaluation.metrics import top1_accuracy
from keras_dfka.evaluation.reports import environment_info
from keras_dfka.evaluation.reports import format_table
from keras_dfka.evaluation.reports import write_json
from keras_dfka.evaluation.reports import write_report

__all__ = [
    "accuracy",
    "balanced_accuracy",
    "binary_report",
    "count_params",
    "coverage_warnings",
    "environment_info",
    "format_table",
    "gap_closed",
    "inference_time",
    "label_coverage",
    "roc_auc",
    "top1_accuracy",
    "write_json",
    "write_report",
]
