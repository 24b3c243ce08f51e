"""What the commands share: usage errors, file checks, model loading."""

import os
import tempfile
import zipfile

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

    import keras_dfka  # (also registers the package's classes)
    from keras_dfka.models.target_net import label_plan_of

    require_file(path, argument)
    if path.endswith(MODEL_SUFFIX) and not zipfile.is_zipfile(path):
        # Keras would report "File not found" for a file that is there.
        raise CommandError(
            f"argument {argument}: '{path}' is not a valid .keras file: it is "
            f"not a zip archive ({os.path.getsize(path):,} bytes; a truncated "
            "or interrupted save, or another format renamed .keras)"
        )
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # A broken or foreign file: a usage error.
        raise CommandError(
            f"argument {argument}: cannot load '{path}' as a Keras model: {error}"
        ) from None
    # A saved TargetNet is a plain functional model: its label helpers back.
    if label_plan_of(model) is not None:
        model = keras_dfka.TargetNet.from_model(model)
    return model


def check_writable(path, argument):
    """Checks, before any work, that the file `path` can be written.

    Its directory must exist and be writable, or be creatable (its nearest
    existing ancestor a writable directory): it is created when the file is
    written. A trial file is made and removed, which also catches read-only
    file systems.

    Raises:
        CommandError: naming `argument`, the path and the reason.
    """
    if os.path.isdir(path):
        raise CommandError(f"argument {argument}: '{path}' is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    existing = directory
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise CommandError(
            f"argument {argument}: cannot write '{path}': '{existing}' is a "
            "file, not a directory"
        )
    try:
        handle, trial = tempfile.mkstemp(prefix=".keras-dfka-write-test-", dir=existing)
    except OSError as error:
        raise CommandError(
            f"argument {argument}: cannot write '{path}': directory '{existing}' "
            f"is not writable ({error.strerror or error})"
        ) from None
    os.close(handle)
    os.remove(trial)


def shape_text(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
