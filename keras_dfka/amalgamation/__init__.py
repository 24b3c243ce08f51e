"""The one-call path from teachers to a TargetNet.

- `amalgamate` (`amalgamate.py`): the entry point; returns an
  `AmalgamationResult`.
- `AmalgamationConfig` (`config.py`): every default, each field checked once.
- `PRESETS`, `RECIPE_DEFAULTS` (`presets.py`): named configurations, and the
  defaults in which the library's recipe departs from the trainers'.
- `SCHEDULES` (`schedules.py`): the orders in which the two stages train.
- `checkpoint.py`: run checkpoints, to resume an interrupted run.

Note: `keras_dfka.amalgamation.amalgamate` is the function (the module of the
same name is `sys.modules["keras_dfka.amalgamation.amalgamate"]`).
"""

from keras_dfka import _legacy
from keras_dfka.amalgamation.amalgamate import AmalgamationResult
from keras_dfka.amalgamation.amalgamate import amalgamate
from keras_dfka.amalgamation.config import BALANCED_LATENTS
from keras_dfka.amalgamation.config import LEARNING_RATE_DECAYS
from keras_dfka.amalgamation.config import AmalgamationConfig
from keras_dfka.amalgamation.presets import PRESETS
from keras_dfka.amalgamation.presets import RECIPE_DEFAULTS
from keras_dfka.amalgamation.schedules import SCHEDULES

__all__ = [
    "BALANCED_LATENTS",
    "LEARNING_RATE_DECAYS",
    "PRESETS",
    "RECIPE_DEFAULTS",
    "SCHEDULES",
    "AmalgamationConfig",
    "AmalgamationResult",
    "amalgamate",
]


def __getattr__(name):
    """The names that left `keras_dfka.pipeline` (this package's old path),
    with a `DeprecationWarning` naming their new place."""
    return _legacy.renamed_attribute(name, __name__)
