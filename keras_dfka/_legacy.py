"""Deprecated module paths of keras-dfka 0.2, kept for one release.

Version 0.3 put the modules in folders (`models/`, `trainers/`,
`amalgamation/`, `utils/`) and renamed `Task` to `LabelTask` (KerasHub's
central class is `keras_hub.models.Task`). Importing an old module path,
e.g. `from keras_dfka.teacher import Teacher`, still works and warns once
with a `DeprecationWarning` naming the new path; `keras_dfka.Task` warns
and returns `keras_dfka.LabelTask`. Both go away in the next release.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

# old module -> its new path.
MOVED_MODULES = {
    "keras_dfka.adversarial_amalgamation": (
        "keras_dfka.trainers.adversarial_amalgamation"
    ),
    "keras_dfka.amalgam_gan": "keras_dfka.trainers.amalgam_gan",
    "keras_dfka.checkpoint": "keras_dfka.amalgamation.checkpoint",
    "keras_dfka.compile_utils": "keras_dfka.trainers.compile_utils",
    "keras_dfka.cpu_kernels": "keras_dfka.utils.cpu_kernels",
    "keras_dfka.distribution": "keras_dfka.utils.distribution",
    "keras_dfka.dual_generator": "keras_dfka.trainers.dual_generator",
    "keras_dfka.group_stack_generator": "keras_dfka.models.group_stack_generator",
    "keras_dfka.label_plan": "keras_dfka.models.label_plan",
    "keras_dfka.model_graph": "keras_dfka.models.model_graph",
    "keras_dfka.non_finite": "keras_dfka.utils.non_finite",
    "keras_dfka.pipeline": "keras_dfka.amalgamation.pipeline",
    "keras_dfka.student_block": "keras_dfka.models.student_block",
    "keras_dfka.target_net": "keras_dfka.models.target_net",
    "keras_dfka.task": "keras_dfka.models.label_task",
    "keras_dfka.teacher": "keras_dfka.models.teacher",
    "keras_dfka.teacher_zoo": "keras_dfka.models.teacher_zoo",
    "keras_dfka.validation": "keras_dfka.utils.validation",
    "keras_dfka.visualization": "keras_dfka.utils.visualization",
}

# old public name -> (module, new name).
RENAMED = {"Task": ("keras_dfka.models.label_task", "LabelTask")}


class _MovedModuleLoader(importlib.abc.Loader):
    """Loads an old module path as the module at its new path."""

    def __init__(self, new_name):
        self.new_name = new_name

    def create_module(self, spec):
        warnings.warn(
            f"`{spec.name}` moved to `{self.new_name}` in keras-dfka 0.3; the "
            "old path will be removed in the next release.",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(self.new_name)

    def exec_module(self, module):
        pass  # The module at the new path is already executed.


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the old module paths of `MOVED_MODULES`."""

    def find_spec(self, name, path=None, target=None):
        new_name = MOVED_MODULES.get(name)
        if new_name is None:
            return None
        return importlib.util.spec_from_loader(name, _MovedModuleLoader(new_name))


def install():
    """Lets the old module paths be imported (idempotent)."""
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())


def renamed_attribute(name):
    """The object an old public name of `keras_dfka` stands for, with a
    `DeprecationWarning`; raises `AttributeError` for other names."""
    if name not in RENAMED:
        raise AttributeError(f"module 'keras_dfka' has no attribute {name!r}")
    module, new_name = RENAMED[name]
    warnings.warn(
        f"`keras_dfka.{name}` is now `keras_dfka.{new_name}` (keras-dfka 0.3); "
        "the old name will be removed in the next release.",
        DeprecationWarning,
        stacklevel=3,
    )
    return getattr(importlib.import_module(module), new_name)
