"""What the commands share: usage errors, file checks, model loading."""

import os

PROG = "keras-dfka"
MODEL_SUFFIX = ".keras"


class CommandError(ValueError):
    """A usage error found after parsing; printed without a traceback."""


def require_file(path, argument):
    if not os.path.isfile(path):
        what = "is a directory, not a file" if os.path.isdir(path) else "not found"
        raise CommandError(f"argument {argument}: file {what}: '{path}'")


def require_dir(path, argument):
    if not os.path.isdir(path):
        raise CommandError(f"argument {argument}: directory not found: '{path}'")


def refuse_overwrite(paths, argument, overwrite):
    if overwrite:
        return
    existing = [p for p in paths if os.path.exists(p)]
    if existing:
        names = ", ".join(f"'{p}'" for p in existing)
        verb = "exists" if len(existing) == 1 else "exist"
        raise CommandError(
            f"argument {argument}: {names} already {verb}; pass --overwrite to replace"
        )


def load_model(path, argument):
    import keras

    import keras_dfka  # noqa: F401  (registers the package's classes)

    require_file(path, argument)
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # A broken or foreign file: a usage error.
        raise CommandError(
            f"argument {argument}: cannot load '{path}' as a Keras model: {error}"
        ) from None


def shape_text(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
