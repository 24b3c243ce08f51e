"""The `keras-dfka` command line (also `python -m keras_dfka`).

Subcommands:

- `amalgamate`: teachers (`.keras` files) -> TargetNet, generator and a JSON
  summary, without any data (`keras_dfka.amalgamate`; one option per field of
  `keras_dfka.AmalgamationConfig`).
- `sample`: a saved generator -> a PNG grid of generated images.
- `evaluate`: a saved TargetNet on a CelebA-layout directory or on an image
  folder with a CSV of 0/1 labels.
- `inspect`: the top-level layers of a `.keras` model (to choose `--blocks`).

`--backend` must be chosen before Keras is imported. Importing `keras_dfka`
imports Keras; when the command runs as a program and Keras already uses
another backend, the process restarts itself once with `KERAS_BACKEND` set.

Example:

```bash
keras-dfka inspect --model hair.keras
keras-dfka --backend jax amalgamate \\
    --teacher hair.keras --blocks b1,b2,b3 --labels Black_Hair,Blond_Hair \\
    --teacher face.keras --blocks b1,b2,b3 --labels Smiling,Male \\
    --target-labels Blond_Hair,Smiling --steps 1500 --output out/target.keras
keras-dfka sample --generator out/target.generator.keras --output grid.png
keras-dfka evaluate --model out/target.keras --celeba-dir data/celeba
```
"""

import importlib.util
import os
import sys

from keras_dfka.cli.amalgamate import output_paths
from keras_dfka.cli.amalgamate import run_amalgamate
from keras_dfka.cli.commands import run_evaluate
from keras_dfka.cli.commands import run_inspect
from keras_dfka.cli.commands import run_sample
from keras_dfka.cli.common import PROG
from keras_dfka.cli.common import CommandError
from keras_dfka.cli.export import run_export
from keras_dfka.cli.parser import build_parser

__all__ = ["build_parser", "main", "output_paths"]

_REEXEC_ENV = "KERAS_DFKA_CLI_REEXEC"
COMMANDS = {
    "amalgamate": run_amalgamate,
    "sample": run_sample,
    "evaluate": run_evaluate,
    "inspect": run_inspect,
    "export": run_export,
}


def main(argv=None):
    """Runs `keras-dfka`; returns the exit code.

    Args:
        argv: list of arguments without the program name; `None` reads
            `sys.argv` (and allows a restart of the process to apply
            `--backend`).

    Returns:
        0 on success, 2 on usage errors (bad arguments, missing files,
        existing or unwritable outputs), 1 on other failures (a training
        that diverges to NaN: nothing is written).
    """
    as_program = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already printed.
        return _exit_code(exit_)
    # (Imported here, not above: `keras_dfka.cli.help` answers --help and
    # --version without Keras.)
    from keras_dfka.utils.non_finite import NonFiniteError

    try:
        try:
            _select_backend(args.backend, argv, as_program)
            return COMMANDS[args.command_name](args) or 0
        except (ValueError, FileNotFoundError, FileExistsError) as error:
            if args.traceback:
                raise
            message = str(error)
            if isinstance(error, FileNotFoundError) and error.filename:
                message = f"{error.strerror}: '{error.filename}'"
            print(f"{PROG}: error: {message}", file=sys.stderr)
            return 2
        except NonFiniteError as error:
            # Training diverged (or a model is not finite): nothing is saved.
            if args.traceback:
                raise
            print(f"{PROG}: error: {error}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _exit_code(exit_):
    code = exit_.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _select_backend(backend, argv, as_program):
    """Makes `backend` the Keras backend, before Keras is imported if possible."""
    if backend is None:
        return
    module_name = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
    if importlib.util.find_spec(module_name[backend]) is None:
        raise CommandError(
            f"argument --backend: the '{module_name[backend]}' package is not "
            f"installed; cannot use --backend {backend}"
        )
    keras = sys.modules.get("keras")
    if keras is None:
        os.environ["KERAS_BACKEND"] = backend
        return
    current = keras.backend.backend()
    if current == backend:
        return
    if as_program and not os.environ.get(_REEXEC_ENV):
        # Keras was imported (with `keras_dfka`) before the arguments could be
        # read: start again with the backend set in the environment.
        env = dict(os.environ, KERAS_BACKEND=backend, **{_REEXEC_ENV: "1"})
        command = [sys.executable, "-m", "keras_dfka", *argv]
        sys.stdout.flush()
        sys.stderr.flush()
        if os.name == "posix":
            os.execve(sys.executable, command, env)
        import subprocess

        raise SystemExit(subprocess.call(command, env=env))
    raise CommandError(
        f"argument --backend: Keras is already imported with the '{current}' "
        f"backend in this process, so --backend {backend} cannot take effect; "
        f"set KERAS_BACKEND={backend} before starting Python"
    )
