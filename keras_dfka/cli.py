"""The `keras-dfka` command line (also `python -m keras_dfka`).

Subcommands:

- `amalgamate`: teachers (`.keras` files) -> TargetNet, generator and a JSON
  summary, without any data.
- `sample`: a saved generator -> a PNG grid of generated images.
- `evaluate`: a saved TargetNet on a CelebA-layout directory or on an image
  folder with a CSV of 0/1 labels.
- `inspect`: the top-level layers of a `.keras` model (to choose `--blocks`).

Keras and `keras_dfka`'s models are imported inside the command functions,
after the arguments are parsed, so that `--backend` can still choose the
backend. (Importing the `keras_dfka` package itself imports Keras; when the
command runs as a program and Keras already uses another backend, the process
restarts itself once with `KERAS_BACKEND` set.)

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

import argparse
import csv
import importlib.util
import json
import math
import os
import sys
import time

PROG = "keras-dfka"
BACKENDS = ("tensorflow", "jax", "torch")
_REEXEC_ENV = "KERAS_DFKA_CLI_REEXEC"
_MODEL_SUFFIX = ".keras"
# The default number of distinct class-balanced latent vectors (--balance-task).
BALANCED_LATENTS = 32000


class CommandError(ValueError):
    """A usage error found after parsing; printed without a traceback."""


# ---------------------------------------------------------------------------
# Argument types and per-teacher actions.
# ---------------------------------------------------------------------------


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, received {text!r}"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, received {text!r}"
        )
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive number, received {text!r}"
        )
    return value


def _name_list(text):
    """`"a,b,c"` -> `["a", "b", "c"]` (blanks around names are ignored)."""
    names = [name.strip() for name in text.split(",")]
    if not text.strip() or any(not name for name in names):
        raise ValueError(
            f"expected a comma-separated list of non-empty names, received {text!r}"
        )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"names must be unique; {duplicates} repeated in {text!r}")
    return names


def _name_list_type(text):
    try:
        return _name_list(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _parse_tasks(text):
    """`"name:sigmoid:L1,L2;name2:softmax:A,B,C[:logits]"` -> task dicts."""
    syntax = (
        "expected 'name:activation:label1,label2[:logits]' entries separated by "
        "';', activation 'sigmoid' or 'softmax'"
    )
    entries = [entry.strip() for entry in text.split(";")]
    if len(entries) > 1 and not entries[-1]:  # A trailing ';'.
        entries.pop()
    tasks = []
    for entry in entries:
        if not entry:
            raise ValueError(f"{syntax}; received an empty entry in {text!r}")
        fields = [field.strip() for field in entry.split(":")]
        if len(fields) not in (3, 4) or not fields[0]:
            raise ValueError(f"{syntax}; received {entry!r}")
        name, activation, labels = fields[:3]
        if activation not in ("sigmoid", "softmax"):
            raise ValueError(f"{syntax}; task {name!r} has activation {activation!r}")
        try:
            labels = _name_list(labels)
        except ValueError as error:
            raise ValueError(f"task {name!r}: {error}") from None
        task = {"name": name, "labels": labels, "activation": activation}
        if len(fields) == 4:
            if fields[3] not in ("logits", "probabilities"):
                raise ValueError(
                    f"{syntax}; the optional 4th field of task {name!r} must be "
                    f"'logits' or 'probabilities', received {fields[3]!r}"
                )
            task["from_logits"] = fields[3] == "logits"
        if activation == "softmax" and len(labels) < 2:
            raise ValueError(f"softmax task {name!r} needs at least 2 labels")
        tasks.append(task)
    names = [task["name"] for task in tasks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"task names must be unique; {duplicates} repeated")
    return tasks


def _parse_range(text):
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"expected 'LOW,HIGH', received {text!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        raise ValueError(f"expected finite LOW < HIGH, received {text!r}")
    return [low, high]


class _TeacherAction(argparse.Action):
    """`--teacher PATH`: starts a new teacher group."""

    def __call__(self, parser, namespace, values, option_string=None):
        teachers = list(getattr(namespace, self.dest, None) or [])
        teachers.append({"path": values})
        setattr(namespace, self.dest, teachers)


class _TeacherOptionAction(argparse.Action):
    """An option of the last `--teacher` given before it."""

    def __init__(self, option_strings, dest, convert=None, constant=None, **kwargs):
        self.convert = convert
        self.constant = constant
        kwargs.setdefault("default", argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        teachers = getattr(namespace, "teachers", None)
        if not teachers:
            raise argparse.ArgumentError(
                self, "must follow a --teacher PATH (it applies to the last one)"
            )
        current = teachers[-1]
        if self.dest in current:
            raise argparse.ArgumentError(
                self, f"given twice for --teacher {current['path']}"
            )
        if self.convert is None:
            value = self.constant
        else:
            try:
                value = self.convert(values)
            except ValueError as error:
                raise argparse.ArgumentError(self, str(error)) from None
        current[self.dest] = value


# ---------------------------------------------------------------------------
# The parser.
# ---------------------------------------------------------------------------


def _add_backend_argument(parser, default):
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=default,
        help="the Keras backend (default: $KERAS_BACKEND, else Keras's own "
        "default); must be chosen before Keras is imported",
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        default=default,
        help="show the full traceback of errors (for bug reports)",
    )


def build_parser():
    """Returns the `argparse.ArgumentParser` of `keras-dfka`."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Data-free knowledge amalgamation (Group-Stack Dual-GAN) "
        "for Keras 3: merge pre-trained classifiers into one compact "
        "multi-branch student without their training data.",
        allow_abbrev=False,
        epilog=f"Run '{PROG} COMMAND --help' for the options of a command.",
    )
    _add_backend_argument(parser, default=None)
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    _add_backend_argument(common, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    # amalgamate ------------------------------------------------------------
    amalgamate = commands.add_parser(
        "amalgamate",
        parents=[common],
        allow_abbrev=False,
        help="amalgamate teachers into a TargetNet (no data needed)",
        description="Trains the group-stack GAN against the frozen teachers, "
        "then the dual generator, and saves\nthe TargetNet (--output), the "
        "generator (<stem>.generator.keras) and a JSON summary\n(<stem>.json). "
        "Give one group of --teacher, --blocks and --labels (or --tasks) per\n"
        "teacher: --blocks, --labels, --tasks, --activation, --from-logits, "
        "--name and\n--input-range apply to the last --teacher before them.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n"
        f"  {PROG} amalgamate \\\n"
        "    --teacher hair.keras --blocks b1,b2,b3 --labels Black_Hair,Blond_Hair \\\n"
        "    --teacher face.keras --blocks c1,c2,c3 \\\n"
        "      --tasks 'expr:sigmoid:Smiling,Male;age:softmax:child,adult' \\\n"
        "    --target-labels Blond_Hair,Smiling,adult --output out/target.keras",
    )
    group = amalgamate.add_argument_group("teachers (repeat the group per teacher)")
    group.add_argument(
        "--teacher",
        dest="teachers",
        action=_TeacherAction,
        metavar="PATH",
        required=True,
        help="a pre-trained functional model saved as .keras",
    )
    group.add_argument(
        "--blocks",
        dest="blocks",
        action=_TeacherOptionAction,
        convert=_name_list,
        metavar="L1,L2,...",
        help="the layer names that end the teacher's blocks, in order (see "
        f"'{PROG} inspect'); every teacher needs the same number",
    )
    group.add_argument(
        "--labels",
        dest="labels",
        action=_TeacherOptionAction,
        convert=_name_list,
        metavar="A,B,...",
        help="the label names of a single-output teacher, one per output unit",
    )
    group.add_argument(
        "--activation",
        dest="activation",
        action=_TeacherOptionAction,
        convert=lambda v: v,
        choices=("sigmoid", "softmax"),
        help="with --labels: sigmoid (multi-label, default) or softmax (multi-class)",
    )
    group.add_argument(
        "--tasks",
        dest="tasks",
        action=_TeacherOptionAction,
        convert=_parse_tasks,
        metavar="SPEC",
        help="instead of --labels, for a multi-output teacher: one "
        "'name:sigmoid|softmax:label1,label2[:logits]' entry per output, in "
        "output order, separated by ';'",
    )
    group.add_argument(
        "--from-logits",
        dest="from_logits",
        action=_TeacherOptionAction,
        nargs=0,
        constant=True,
        help="the teacher outputs logits (default: probabilities)",
    )
    group.add_argument(
        "--name",
        dest="name",
        action=_TeacherOptionAction,
        convert=lambda v: v,
        help="the teacher's name (default: the model's name); with --labels it "
        "is also the task name that keys the TargetNet's outputs",
    )
    group.add_argument(
        "--input-range",
        dest="input_range",
        action=_TeacherOptionAction,
        convert=_parse_range,
        metavar="LOW,HIGH",
        help="the pixel range the teacher expects (default: 0,1)",
    )
    amalgamate.add_argument(
        "--target-labels",
        type=_name_list_type,
        required=True,
        metavar="A,B,...",
        help="the labels the TargetNet answers, in output order ('task/label' "
        "when several tasks have the label)",
    )
    amalgamate.add_argument(
        "--output",
        required=True,
        metavar="PATH.keras",
        help="where to save the TargetNet",
    )
    amalgamate.add_argument(
        "--steps",
        type=_positive_int,
        default=1000,
        help="training steps of each stage (default: %(default)s)",
    )
    amalgamate.add_argument(
        "--batch-size", type=_positive_int, default=64, help="(default: %(default)s)"
    )
    amalgamate.add_argument(
        "--latent-dim",
        type=_positive_int,
        default=100,
        help="the width of the generator's noise input (default: %(default)s)",
    )
    amalgamate.add_argument(
        "--width-multiplier",
        type=_positive_float,
        default=0.5,
        help="the student's widths relative to the teachers' (default: %(default)s)",
    )
    amalgamate.add_argument(
        "--preset",
        choices=("default", "paper"),
        default="default",
        help="loss preset of the GAN: 'default' adds the BatchNorm-statistics "
        "prior, 'paper' uses exactly the paper's losses (default: %(default)s)",
    )
    amalgamate.add_argument(
        "--balance-task",
        metavar="TASK",
        default=None,
        help="train the student on latent vectors whose generated images the "
        "teachers spread evenly over the classes of this softmax task "
        "(AmalgamGAN.balanced_latents) instead of plain noise",
    )
    amalgamate.add_argument(
        "--balanced-latents",
        type=_positive_int,
        default=None,
        metavar="N",
        help="with --balance-task: how many distinct vectors, repeated for "
        f"--steps steps (default: {BALANCED_LATENTS} or steps x batch size, "
        "whichever is smaller)",
    )
    amalgamate.add_argument(
        "--end-to-end",
        action="store_true",
        help="train the student's trunk end to end on images, one loss on its "
        "last block (DualGenerator(block_wise=False)), instead of block by block",
    )
    amalgamate.add_argument(
        "--fine-tune-heads",
        action="store_true",
        help="give each teacher's branch a trainable copy of the teacher's head "
        "(DualGenerator(fine_tune_heads=True)) instead of the frozen head",
    )
    amalgamate.add_argument("--seed", type=int, default=0, help="(default: 0)")
    amalgamate.add_argument(
        "--agreement-samples",
        type=_positive_int,
        default=512,
        help="generated images on which the TargetNet's agreement with the "
        "teachers is measured (default: %(default)s)",
    )
    amalgamate.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="Keras fit() verbosity (default: %(default)s)",
    )
    amalgamate.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing output files",
    )
    amalgamate.set_defaults(handler=run_amalgamate)

    # sample ----------------------------------------------------------------
    sample = commands.add_parser(
        "sample",
        parents=[common],
        allow_abbrev=False,
        help="draw images from a saved generator into a PNG grid",
        description="Loads a generator saved by 'amalgamate' and writes a grid "
        "of images generated from N(0, 1) noise.",
    )
    sample.add_argument(
        "--generator",
        required=True,
        metavar="PATH.generator.keras",
        help="the generator saved by 'amalgamate'",
    )
    sample.add_argument(
        "--output", required=True, metavar="PATH.png", help="the image grid"
    )
    sample.add_argument(
        "--num", type=_positive_int, default=64, help="images (default: 64)"
    )
    sample.add_argument(
        "--columns", type=_positive_int, default=8, help="grid columns (default: 8)"
    )
    sample.add_argument("--seed", type=int, default=0, help="(default: 0)")
    sample.add_argument(
        "--batch-size", type=_positive_int, default=64, help="(default: 64)"
    )
    sample.add_argument(
        "--overwrite", action="store_true", help="replace an existing file"
    )
    sample.set_defaults(handler=run_sample)

    # evaluate --------------------------------------------------------------
    evaluate = commands.add_parser(
        "evaluate",
        parents=[common],
        allow_abbrev=False,
        help="evaluate a TargetNet on labelled images",
        description="Per-label and mean accuracy, balanced accuracy and ROC-AUC "
        "of a TargetNet on a CelebA-layout directory (--celeba-dir) or on an "
        "image folder with a CSV of 0/1 labels (--images and --labels-csv, "
        "header 'filename,<label1>,<label2>,...').",
    )
    evaluate.add_argument(
        "--model", required=True, metavar="PATH.keras", help="a saved TargetNet"
    )
    sources = evaluate.add_mutually_exclusive_group(required=True)
    sources.add_argument(
        "--celeba-dir",
        metavar="DIR",
        help="img_align_celeba/, list_attr_celeba.txt, list_eval_partition.txt",
    )
    sources.add_argument(
        "--images", metavar="DIR", help="a folder of images (use --labels-csv)"
    )
    evaluate.add_argument(
        "--labels-csv",
        metavar="FILE",
        help="with --images: 'filename,<label1>,...' header, rows of 0/1",
    )
    evaluate.add_argument(
        "--split",
        choices=("train", "validation", "test", "all"),
        default="test",
        help="with --celeba-dir (default: %(default)s)",
    )
    evaluate.add_argument(
        "--image-size",
        type=_positive_int,
        default=None,
        help="with --celeba-dir: the side the images are resized to; must be "
        "the model's input size (default: the model's input size)",
    )
    evaluate.add_argument(
        "--max-images",
        type=_positive_int,
        default=None,
        help="evaluate only the first N images",
    )
    evaluate.add_argument(
        "--batch-size", type=_positive_int, default=128, help="(default: 128)"
    )
    evaluate.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="decision threshold of accuracy (default: 0.5)",
    )
    evaluate.add_argument(
        "--output", metavar="REPORT.json", help="also write the report as JSON"
    )
    evaluate.add_argument(
        "--overwrite", action="store_true", help="replace an existing report"
    )
    evaluate.set_defaults(handler=run_evaluate)

    # inspect ---------------------------------------------------------------
    inspect = commands.add_parser(
        "inspect",
        parents=[common],
        allow_abbrev=False,
        help="list a model's layers (to choose --blocks)",
        description="Prints each top-level layer's name, class and output "
        "shape, and a TargetNet's target labels.",
    )
    inspect.add_argument("--model", required=True, metavar="PATH.keras")
    inspect.set_defaults(handler=run_inspect)
    return parser


# ---------------------------------------------------------------------------
# Entry point.
# ---------------------------------------------------------------------------


def main(argv=None):
    """Runs `keras-dfka`; returns the exit code.

    Args:
        argv: list of arguments without the program name; `None` reads
            `sys.argv` (and allows a restart of the process to apply
            `--backend`).

    Returns:
        0 on success, 2 on usage errors (bad arguments, missing files,
        existing outputs), 1 on other failures.
    """
    as_program = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already printed.
        return _exit_code(exit_)
    try:
        try:
            _select_backend(args.backend, argv, as_program)
            return args.handler(args) or 0
        except (ValueError, FileNotFoundError, FileExistsError) as error:
            if args.traceback:
                raise
            message = str(error)
            if isinstance(error, FileNotFoundError) and error.filename:
                message = f"{error.strerror}: '{error.filename}'"
            print(f"{PROG}: error: {message}", file=sys.stderr)
            return 2
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


# ---------------------------------------------------------------------------
# Helpers shared by the commands.
# ---------------------------------------------------------------------------


def _require_file(path, argument):
    if not os.path.isfile(path):
        what = "is a directory, not a file" if os.path.isdir(path) else "not found"
        raise CommandError(f"argument {argument}: file {what}: '{path}'")


def _require_dir(path, argument):
    if not os.path.isdir(path):
        raise CommandError(f"argument {argument}: directory not found: '{path}'")


def _refuse_overwrite(paths, argument, overwrite):
    if overwrite:
        return
    existing = [p for p in paths if os.path.exists(p)]
    if existing:
        names = ", ".join(f"'{p}'" for p in existing)
        verb = "exists" if len(existing) == 1 else "exist"
        raise CommandError(
            f"argument {argument}: {names} already {verb}; pass --overwrite to replace"
        )


def _load_model(path, argument):
    import keras

    import keras_dfka  # noqa: F401  (registers the package's classes)

    _require_file(path, argument)
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # A broken or foreign file: a usage error.
        raise CommandError(
            f"argument {argument}: cannot load '{path}' as a Keras model: {error}"
        ) from None


def _jsonable(value):
    """Python numbers, lists and dicts; non-finite floats become None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # NumPy scalars and arrays.
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_json(data, path):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(_jsonable(data), file, indent=2, allow_nan=False)
        file.write("\n")


def _environment():
    import keras

    return {"backend": keras.backend.backend(), "keras_version": keras.__version__}


def _shape_text(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


# ---------------------------------------------------------------------------
# amalgamate
# ---------------------------------------------------------------------------


def output_paths(output):
    """`(target, generator, summary)` paths for an `--output` of amalgamate."""
    stem = output[: -len(_MODEL_SUFFIX)]
    return output, stem + ".generator.keras", stem + ".json"


def _check_teacher_groups(specs):
    for index, spec in enumerate(specs, start=1):
        where = f"for --teacher {spec['path']} (teacher {index})"
        if "blocks" not in spec:
            raise CommandError(f"argument --blocks: missing {where}")
        if "labels" in spec and "tasks" in spec:
            raise CommandError(
                f"argument --tasks: give --labels or --tasks {where}, not both"
            )
        if "labels" not in spec and "tasks" not in spec:
            raise CommandError(f"argument --labels: missing {where} (or give --tasks)")
        if "tasks" in spec and "activation" in spec:
            raise CommandError(
                f"argument --activation: only with --labels; {where} the "
                "activations are part of --tasks"
            )
    counts = [len(spec["blocks"]) for spec in specs]
    if len(set(counts)) != 1:
        raise CommandError(
            "argument --blocks: every teacher needs the same number of blocks; "
            f"received {counts}"
        )


def _teacher_names(specs, models):
    """The teachers' names: --name, else the model's name, made unique."""
    names = []
    for spec, model in zip(specs, models):
        name = spec.get("name") or model.name
        base, suffix = name, 2
        while name in names:
            name, suffix = f"{base}_{suffix}", suffix + 1
        names.append(name)
    given = [spec["name"] for spec in specs if "name" in spec]
    duplicates = sorted({n for n in given if given.count(n) > 1})
    if duplicates:
        raise CommandError(f"argument --name: teacher names repeat: {duplicates}")
    return names


def _build_teacher(spec, index, model, name):
    import keras_dfka

    where = f"--teacher {spec['path']} (teacher {index})"
    layer_names = [layer.name for layer in model.layers]
    unknown = [b for b in spec["blocks"] if b not in layer_names]
    if unknown:
        raise CommandError(
            f"argument --blocks: {where} has no layer named {unknown}; its "
            f"top-level layers are {layer_names} (see '{PROG} inspect')"
        )
    outputs = list(model.outputs)
    widths = [tuple(output.shape)[-1] for output in outputs]
    if "labels" in spec:
        if len(outputs) != 1:
            raise CommandError(
                f"argument --labels: {where} has {len(outputs)} outputs of widths "
                f"{widths}; describe each output with --tasks instead"
            )
        if len(spec["labels"]) != widths[0]:
            raise CommandError(
                f"argument --labels: {where} outputs {widths[0]} values but "
                f"{len(spec['labels'])} labels were given: {spec['labels']}"
            )
        activation = spec.get("activation", "sigmoid")
        if activation == "softmax" and widths[0] < 2:
            raise CommandError(
                f"argument --activation: {where}: softmax needs at least 2 labels"
            )
        task_kwargs = {"labels": spec["labels"], "activation": activation}
    else:
        tasks = spec["tasks"]
        if len(tasks) != len(outputs):
            raise CommandError(
                f"argument --tasks: {where} has {len(outputs)} output(s) of widths "
                f"{widths} but {len(tasks)} task(s) were given"
            )
        for task, width in zip(tasks, widths):
            if len(task["labels"]) != width:
                raise CommandError(
                    f"argument --tasks: task '{task['name']}' of {where} has "
                    f"{len(task['labels'])} labels but its output has {width} units"
                )
        task_kwargs = {"tasks": [keras_dfka.Task(**task) for task in tasks]}
    try:
        return keras_dfka.Teacher(
            model,
            blocks=spec["blocks"],
            from_logits=spec.get("from_logits", False),
            input_range=spec.get("input_range", (0.0, 1.0)),
            name=name,
            **task_kwargs,
        )
    except ValueError as error:
        raise CommandError(f"{where}: {error}") from None


def _last_values(history):
    return {key: float(values[-1]) for key, values in history.history.items()}


def run_amalgamate(args):
    start_time = time.time()
    specs = args.teachers
    _check_teacher_groups(specs)
    if not args.output.endswith(_MODEL_SUFFIX):
        raise CommandError(
            f"argument --output: must end with '{_MODEL_SUFFIX}', received "
            f"'{args.output}'"
        )
    target_path, generator_path, summary_path = output_paths(args.output)
    _refuse_overwrite(
        [target_path, generator_path, summary_path], "--output", args.overwrite
    )
    for spec in specs:
        _require_file(spec["path"], "--teacher")

    import keras

    import keras_dfka
    from keras_dfka.evaluation import count_params
    from keras_dfka.label_selection import resolve_target_labels

    keras.utils.set_random_seed(args.seed)
    models = [_load_model(spec["path"], "--teacher") for spec in specs]
    names = _teacher_names(specs, models)
    teachers = [
        _build_teacher(spec, index, model, name)
        for index, (spec, model, name) in enumerate(zip(specs, models, names), 1)
    ]
    try:
        resolve_target_labels(teachers, args.target_labels)
    except ValueError as error:
        raise CommandError(f"argument --target-labels: {error}") from None

    gan = keras_dfka.AmalgamGAN(
        teachers,
        latent_dim=args.latent_dim,
        width_multiplier=args.width_multiplier,
        preset=args.preset,
        seed=args.seed,
    )
    if args.balanced_latents is not None and args.balance_task is None:
        raise CommandError(
            "argument --balanced-latents: only with --balance-task (the softmax "
            f"task to balance). Received: --balanced-latents={args.balanced_latents}"
        )
    if args.balance_task is not None:
        try:
            gan.find_softmax_task(args.balance_task)
        except ValueError as error:
            raise CommandError(f"argument --balance-task: {error}") from None
    gan.compile()
    t0 = time.time()
    gan_history = gan.fit(
        keras_dfka.datasets.LatentNoise(
            args.latent_dim, args.batch_size, steps=args.steps, seed=args.seed
        ),
        epochs=1,
        verbose=args.verbose,
    )
    gan_seconds = time.time() - t0
    dual = keras_dfka.DualGenerator(
        gan,
        args.target_labels,
        block_wise=not args.end_to_end,
        fine_tune_heads=args.fine_tune_heads,
    )
    dual.compile()
    t0 = time.time()
    balanced = None
    if args.balance_task is None:
        latents = keras_dfka.datasets.LatentNoise(
            args.latent_dim, args.batch_size, steps=args.steps, seed=args.seed + 1
        )
    else:
        balanced = args.balanced_latents or min(
            BALANCED_LATENTS, args.steps * args.batch_size
        )
        latents = keras_dfka.datasets.LatentSet(
            gan.balanced_latents(balanced, task=args.balance_task, seed=args.seed + 1),
            args.batch_size,
            steps=args.steps,
            seed=args.seed + 1,
        )
    dual_history = dual.fit(latents, epochs=1, verbose=args.verbose)
    dual_seconds = time.time() - t0
    target = keras_dfka.TargetNet.from_dual(dual)
    agreement = dual.agreement(num_samples=args.agreement_samples, seed=args.seed)

    os.makedirs(os.path.dirname(os.path.abspath(target_path)), exist_ok=True)
    target.save(target_path)
    gan.generator.save(generator_path)

    teacher_params = {t.name: count_params(m) for t, m in zip(teachers, models)}
    target_params = count_params(target)
    summary = {
        "command": "amalgamate",
        "teachers": [
            {
                "path": spec["path"],
                "name": teacher.name,
                "blocks": list(teacher.blocks),
                "labels": teacher.label_names,
                "tasks": [task.get_config() for task in teacher.tasks],
                "from_logits": teacher.from_logits,
                "input_range": list(teacher.input_range),
                "parameters": teacher_params[teacher.name],
            }
            for spec, teacher in zip(specs, teachers)
        ],
        "target_labels": list(args.target_labels),
        "target_tasks": target.task_names,
        "steps": {"amalgam_gan": args.steps, "dual_generator": args.steps},
        "batch_size": args.batch_size,
        "latent_dim": args.latent_dim,
        "width_multiplier": args.width_multiplier,
        "preset": args.preset,
        "balance_task": args.balance_task,
        "balanced_latents": balanced,
        "block_wise": dual.block_wise,
        "fine_tune_heads": dual.fine_tune_heads,
        "seed": args.seed,
        "final_losses": {
            "amalgam_gan": _last_values(gan_history),
            "dual_generator": _last_values(dual_history),
        },
        "parameters": {
            "target_net": target_params,
            "teachers": teacher_params,
            "teachers_total": sum(teacher_params.values()),
            "ratio": target_params / max(1, sum(teacher_params.values())),
        },
        "agreement": agreement,
        "outputs": {
            "target_net": target_path,
            "generator": generator_path,
            "summary": summary_path,
        },
        **_environment(),
        "timings_s": {"amalgam_gan": gan_seconds, "dual_generator": dual_seconds},
        "wall_time_s": time.time() - start_time,
    }
    _write_json(summary, summary_path)
    print(
        f"TargetNet ({target_params:,} parameters, teachers together "
        f"{sum(teacher_params.values()):,}) for {', '.join(args.target_labels)}\n"
        f"  agreement with the teachers on generated images: "
        f"{agreement['label_agreement']:.3f} (mean absolute error "
        f"{agreement['mean_absolute_error']:.3f})\n"
        f"  saved {target_path}\n  saved {generator_path}\n  saved {summary_path}"
    )
    return 0


# ---------------------------------------------------------------------------
# sample
# ---------------------------------------------------------------------------


def run_sample(args):
    _require_file(args.generator, "--generator")
    _refuse_overwrite([args.output], "--output", args.overwrite)
    import numpy as np

    from keras_dfka.visualization import save_image_grid

    generator = _load_model(args.generator, "--generator")
    inputs = getattr(generator, "inputs", None) or []
    shape = tuple(inputs[0].shape) if len(inputs) == 1 else None
    if shape is None or len(shape) != 2 or shape[1] is None:
        received = [tuple(i.shape) for i in inputs]
        raise CommandError(
            f"argument --generator: '{args.generator}' is not a generator: "
            f"expected one noise input (batch, latent_dim), received inputs "
            f"{received}"
        )
    latent_dim = int(shape[1])
    z = (
        np.random.default_rng(args.seed)
        .standard_normal((args.num, latent_dim))
        .astype("float32")
    )
    outputs = generator.predict(z, batch_size=args.batch_size, verbose=0)
    images = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise CommandError(
            f"argument --generator: the first output of '{args.generator}' "
            f"must be images (n, height, width, 1|3|4); received {images.shape}"
        )
    save_image_grid(images, args.output, columns=args.columns, overwrite=True)
    print(f"saved {args.num} images {images.shape[1:]} as {args.output}")
    return 0


# ---------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------


def _column_for(label, available):
    """The column of `label` in `available` ('task/label' may match 'label')."""
    if label in available:
        return available.index(label)
    plain = label.rsplit("/", 1)[-1]
    if plain in available:
        return available.index(plain)
    return None


def _missing_error(argument, source, missing, available):
    return CommandError(
        f"argument {argument}: {source} has no labels {missing} for the model's "
        f"target labels; available: {available}"
    )


def _read_labels_csv(path, target_labels):
    _require_file(path, "--labels-csv")
    with open(path, newline="", encoding="utf-8-sig") as file:
        rows = [row for row in csv.reader(file) if any(cell.strip() for cell in row)]
    if not rows:
        raise CommandError(f"argument --labels-csv: '{path}' is empty")
    header = [cell.strip() for cell in rows[0]]
    if header[0].lower() != "filename":
        raise CommandError(
            f"argument --labels-csv: the header of '{path}' must start with "
            f"'filename'; received {header}"
        )
    available = header[1:]
    columns = [_column_for(label, available) for label in target_labels]
    missing = [label for label, c in zip(target_labels, columns) if c is None]
    if missing:
        raise _missing_error("--labels-csv", f"'{path}'", missing, available)
    if len(rows) < 2:
        raise CommandError(f"argument --labels-csv: '{path}' has no data rows")
    filenames, labels = [], []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise CommandError(
                f"argument --labels-csv: '{path}' row {number} has {len(row)} "
                f"fields, the header {len(header)}"
            )
        values = []
        for c in columns:
            cell = row[c + 1].strip()
            try:
                value = float(cell)
            except ValueError:
                value = None
            if value not in (0.0, 1.0):
                raise CommandError(
                    f"argument --labels-csv: '{path}' row {number}, column "
                    f"'{available[c]}': expected 0 or 1, received {cell!r}"
                )
            values.append(value)
        filenames.append(row[0].strip())
        labels.append(values)
    return filenames, labels


def _load_images(directory, filenames, size, channels):
    import numpy as np
    from PIL import Image

    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(channels)
    if mode is None:
        raise CommandError(
            f"argument --model: evaluate supports models with 1, 3 or 4 input "
            f"channels; the model has {channels}"
        )
    images = np.empty((len(filenames), size[0], size[1], channels), dtype="float32")
    for i, filename in enumerate(filenames):
        path = os.path.join(directory, filename)
        if not os.path.isfile(path):
            raise CommandError(f"argument --images: image file not found: '{path}'")
        try:
            with Image.open(path) as image:
                image = image.convert(mode).resize(
                    (size[1], size[0]), Image.Resampling.BILINEAR
                )
                array = np.asarray(image, dtype="float32") / 255.0
        except OSError as error:
            raise CommandError(
                f"argument --images: cannot read the image '{path}': {error}"
            ) from None
        images[i] = array.reshape(size[0], size[1], channels)
    return images


def _celeba_attribute_names(directory):
    path = os.path.join(directory, "list_attr_celeba.txt")
    _require_file(path, "--celeba-dir")
    with open(path, encoding="utf-8") as file:
        file.readline()  # The number of images.
        return file.readline().split()


def _predict(target, images, batch_size):
    import numpy as np

    return np.concatenate(
        [
            target.labels_from_outputs(
                target.predict_on_batch(images[i : i + batch_size])
            )
            for i in range(0, len(images), batch_size)
        ]
    )


def run_evaluate(args):
    if args.images is not None and args.labels_csv is None:
        raise CommandError("argument --labels-csv: required with --images")
    if args.celeba_dir is not None and args.labels_csv is not None:
        raise CommandError("argument --labels-csv: only with --images")
    if args.output is not None:
        _refuse_overwrite([args.output], "--output", args.overwrite)
    _require_file(args.model, "--model")
    if args.celeba_dir is not None:
        _require_dir(args.celeba_dir, "--celeba-dir")
    else:
        _require_dir(args.images, "--images")
        _require_file(args.labels_csv, "--labels-csv")

    import numpy as np

    import keras_dfka
    from keras_dfka.evaluation import binary_report
    from keras_dfka.evaluation import format_table

    target = _load_model(args.model, "--model")
    if not isinstance(target, keras_dfka.TargetNet) or target.label_spec is None:
        raise CommandError(
            f"argument --model: '{args.model}' is not a keras-dfka TargetNet "
            f"(a {type(target).__name__}); save one with '{PROG} amalgamate'"
        )
    target_labels = target.target_labels
    input_shape = tuple(target.inputs[0].shape[1:])
    size = input_shape[:2]

    if args.celeba_dir is not None:
        available = _celeba_attribute_names(args.celeba_dir)
        columns = [_column_for(label, available) for label in target_labels]
        missing = [label for label, c in zip(target_labels, columns) if c is None]
        if missing:
            raise _missing_error(
                "--celeba-dir",
                f"'{os.path.join(args.celeba_dir, 'list_attr_celeba.txt')}'",
                missing,
                available,
            )
        if args.image_size is not None and (args.image_size, args.image_size) != size:
            raise CommandError(
                f"argument --image-size: the model takes {size[0]}x{size[1]} "
                f"images; received --image-size {args.image_size}"
            )
        if input_shape[-1] != 3:
            raise CommandError(
                f"argument --celeba-dir: CelebA images are RGB but the model "
                f"takes {input_shape[-1]} channel(s)"
            )
        try:
            dataset = keras_dfka.datasets.CelebA(
                args.celeba_dir,
                split=args.split,
                attributes=[available[c] for c in columns],
                image_size=size,
                batch_size=args.batch_size,
                shuffle=False,
                max_images=args.max_images,
                cache=False,
            )
        except ValueError as error:
            raise CommandError(f"argument --celeba-dir: {error}") from None
        predictions, truth = [], []
        for index in range(len(dataset)):
            images, labels = dataset[index]
            predictions.append(_predict(target, images, args.batch_size))
            truth.append(labels)
        y_prob, y_true = np.concatenate(predictions), np.concatenate(truth)
        source = f"CelebA '{args.celeba_dir}' split {args.split}"
    else:
        filenames, labels = _read_labels_csv(args.labels_csv, target_labels)
        if args.max_images is not None:
            filenames, labels = filenames[: args.max_images], labels[: args.max_images]
        images = _load_images(args.images, filenames, size, input_shape[-1])
        y_true = np.asarray(labels, dtype="float32")
        y_prob = _predict(target, images, args.batch_size)
        source = f"images '{args.images}' labels '{args.labels_csv}'"

    report = binary_report(y_true, y_prob, target_labels, threshold=args.threshold)
    rows = [{"label": label, **values} for label, values in report["per_label"].items()]
    rows.append({"label": "mean", **report["mean"]})
    print(
        format_table(
            rows,
            ["label", "accuracy", "balanced_accuracy", "roc_auc", "positive_rate"],
            title=f"{args.model} on {source} ({len(y_true)} images)",
        )
    )
    print(f"mean ROC-AUC: {report['mean']['roc_auc']:.4f}")
    if args.output is not None:
        _write_json(
            {
                "command": "evaluate",
                "model": args.model,
                "source": source,
                "num_images": int(len(y_true)),
                "target_labels": target_labels,
                "threshold": args.threshold,
                **report,
                **_environment(),
            },
            args.output,
        )
        print(f"saved {args.output}")
    return 0


# ---------------------------------------------------------------------------
# inspect
# ---------------------------------------------------------------------------


def _layer_output_shape(layer):
    try:
        output = layer.output
    except (AttributeError, ValueError):  # Unbuilt, or called several times.
        return "-" if not layer._inbound_nodes else "(several calls)"
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return ", ".join(_shape_text(o.shape) for o in output)
    return _shape_text(output.shape)


def run_inspect(args):
    import keras_dfka
    from keras_dfka.evaluation import count_params
    from keras_dfka.evaluation import format_table

    model = _load_model(args.model, "--model")
    inputs = getattr(model, "inputs", None) or []
    print(
        f"model '{model.name}' ({type(model).__name__}), {count_params(model):,} "
        "parameters"
    )
    if inputs:
        print("inputs: " + ", ".join(_shape_text(i.shape) for i in inputs))
    rows = []
    for index, layer in enumerate(model.layers):
        rows.append(
            {
                "index": index,
                "name": layer.name,
                "class": type(layer).__name__,
                "output_shape": _layer_output_shape(layer),
                "parameters": count_params(layer) if layer.built else 0,
            }
        )
    print(format_table(rows, ["index", "name", "class", "output_shape", "parameters"]))
    outputs = getattr(model, "outputs", None)
    if outputs:
        names = getattr(model, "output_names", None) or [""] * len(outputs)
        print(
            "outputs: "
            + ", ".join(
                f"{name} {_shape_text(o.shape)}".strip()
                for name, o in zip(names, outputs)
            )
        )
    if isinstance(model, keras_dfka.TargetNet) and model.label_spec is not None:
        print("target labels: " + ", ".join(model.target_labels))
        spec = model.label_spec
        tasks = {}
        for label, (task, _) in zip(model.target_labels, spec["columns"]):
            tasks.setdefault(task, []).append(label)
        for task in model.task_names:
            labels = ", ".join(tasks.get(task, []))
            print(f"  output '{task}' ({spec['activations'][task]}): {labels}")
    else:
        print(
            "For --blocks, name layers that end a block: each called once, with "
            "no connection skipping across it."
        )
    return 0
