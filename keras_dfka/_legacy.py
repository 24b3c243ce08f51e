"""Deprecated module paths of keras-dfka 0.2, kept for one release.

Version 0.3 put the modules in folders (`models/`, `trainers/`,
`amalgamation/`, `utils/`) and renamed `Task` to `LabelTask` (KerasHub's
central class is `keras_hub.models.Task`). Importing an old module path,
e.g. `from keras_dfka.teacher import Teacher`, still works and warns once
with a `DeprecationWarning` naming the new path; `keras_dfka.Task` warns
and returns `keras_dfka.LabelTask`. Both go away in the next release.

`keras_dfka.pipeline` (and `keras_dfka.amalgamation.pipeline`, its path for
one commit) became the package `keras_dfka.amalgamation`, whose modules
`config`, `presets`, `schedules` and `amalgamate` hold what it held and
whose `__init__` re-exports the public names; its command-line text parsing
(`parse_field`, `type_name`) moved to `keras_dfka.cli.fields`, and reading
those names from the old path warns and returns them.
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
    "keras_dfka.pipeline": "keras_dfka.amalgamation",
    "keras_dfka.amalgamation.pipeline": "keras_dfka.amalgamation",
    "keras_dfka.student_block": "keras_dfka.models.student_block",
    "keras_dfka.target_net": "keras_dfka.models.target_net",
    "keras_dfka.task": "keras_dfka.models.label_task",
    "keras_dfka.teacher": "keras_dfka.models.teacher",
    "keras_dfka.teacher_zoo": "keras_dfka.models.teacher_zoo",
    "keras_dfka.validation": "keras_dfka.utils.validation",
    "keras_dfka.visualization": "keras_dfka.utils.visualization",
}

# old public name -> its new name (both with their module's path).
RENAMED = {
    "keras_dfka.Task": "keras_dfka.LabelTask",
    "keras_dfka.amalgamation.parse_field": "keras_dfka.cli.fields.parse_field",
    "keras_dfka.amalgamation.type_name": "keras_dfka.cli.fields.type_name",
}

# module -> where the other names of its old path went.
SPLIT_MODULES = {
    "keras_dfka.amalgamation": (
        "`keras_dfka.pipeline` was split into the modules config, presets, "
        "schedules and amalgamate of `keras_dfka.amalgamation`"
    ),
}


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
        module = importlib.import_module(self.new_name)
        self.new_spec = module.__spec__
        return module

    def exec_module(self, module):
        # The module at the new path is already executed; the import system
        # gave it the old path's spec: it keeps its own.
        module.__spec__ = self.new_spec


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


def renamed_attribute(name, module="keras_dfka"):
    """The object an old public name of `module` stands for, with a
    `DeprecationWarning`; raises `AttributeError` for other names."""
    old = f"{module}.{name}"
    if old not in RENAMED:
        hint = f" ({SPLIT_MODULES[module]})" if module in SPLIT_MODULES else ""
        raise AttributeError(f"module {module!r} has no attribute {name!r}{hint}")
    new = RENAMED[old]
    warnings.warn(
        f"`{old}` is now `{new}` (keras-dfka 0.3); the old name will be "
        "removed in the next release.",
        DeprecationWarning,
        stacklevel=3,
    )
    new_module, new_name = new.rsplit(".", 1)
    return getattr(importlib.import_module(new_module), new_name)
