"""The `keras-dfka` argument parser.

The options of `amalgamate` that configure the data-free run are made from
the fields of `keras_dfka.AmalgamationConfig`, one `--field-name` each
(`--no-field-name` for a boolean set to False), so a new field is a new
option; `keras_dfka.cli.fields` reads their values from text.

Over 500 lines: one `argparse` parser, the options of every subcommand with
their help texts and their value types.
"""

import argparse
import dataclasses
import math

from keras_dfka.cli.common import PROG
from keras_dfka.cli.fields import option_name
from keras_dfka.cli.fields import parse_field
from keras_dfka.cli.fields import type_name

BACKENDS = ("tensorflow", "jax", "torch")


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


def _open_unit_interval(text):
    """A probability threshold: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(
            f"expected a number strictly between 0 and 1, received {text!r}"
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


def add_config_arguments(parser):
    """Adds `--preset`, `--steps` and one option per `AmalgamationConfig`
    field; their values land in `args.config_changes` (only those given)."""
    from keras_dfka.amalgamation import PRESETS
    from keras_dfka.amalgamation import AmalgamationConfig

    group = parser.add_argument_group(
        "the data-free run (keras_dfka.AmalgamationConfig; defaults from --preset)"
    )
    group.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="default",
        help="a named configuration: 'default' (adversarial amalgamation with "
        "a pool), 'paper' (exactly the paper's recipe) or 'sequential' (stage "
        "1, then stage 2) (default: %(default)s)",
    )
    group.add_argument(
        "--steps",
        type=_positive_int,
        default=argparse.SUPPRESS,
        help="sets --gan-steps and --dual-steps to the same number (with the "
        "adversarial schedule: that many joint steps, no student-only steps)",
    )
    defaults = AmalgamationConfig()
    for field in dataclasses.fields(AmalgamationConfig):
        option = option_name(field.name)
        kind = type_name(field.type)
        text = (
            f"{field.metadata['help']} (default: {getattr(defaults, field.name)!r})"
        ).replace("%", "%%")
        if kind == "bool":
            group.add_argument(
                option,
                dest=f"config.{field.name}",
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=text,
            )
        else:
            group.add_argument(
                option,
                dest=f"config.{field.name}",
                type=_field_parser(field.name),
                default=argparse.SUPPRESS,
                metavar=field.name.upper(),
                help=text,
            )


def _field_parser(name):
    def parse(text):
        try:
            return parse_field(name, text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def config_changes(args):
    """The `AmalgamationConfig` fields given on the command line."""
    changes = {
        key.split(".", 1)[1]: value
        for key, value in vars(args).items()
        if key.startswith("config.")
    }
    if "steps" in vars(args):
        changes.setdefault("gan_steps", args.steps)
        changes.setdefault("dual_steps", args.steps)
    return changes


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


def build_parser(config_options=True):
    """Returns the `argparse.ArgumentParser` of `keras-dfka` (without the
    options of `amalgamate`'s run, which import Keras, if `config_options`
    is False: enough for the help of the others and `--version`)."""
    from keras_dfka.cli.export import add_export_parser
    from keras_dfka.cli.help import version_text

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Data-free knowledge amalgamation (Group-Stack Dual-GAN) "
        "for Keras 3: merge pre-trained classifiers into one compact "
        "multi-branch student without their training data.",
        allow_abbrev=False,
        epilog=f"Run '{PROG} COMMAND --help' for the options of a command.",
    )
    _add_backend_argument(parser, default=None)
    parser.add_argument("--version", action="version", version=version_text())
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
        f"'{PROG} inspect'); every teacher needs the same number. Without it, "
        "the teacher's stage ends are proposed (keras_dfka.propose_blocks): "
        "the last N of them, N the number of blocks of the teachers given "
        "--blocks, else the smallest number of stage ends of the teachers",
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
    if config_options:
        add_config_arguments(amalgamate)
    amalgamate.add_argument(
        "--agreement-samples",
        type=_positive_int,
        default=512,
        help="generated images on which the TargetNet's agreement with the "
        "teachers is measured (default: %(default)s)",
    )
    amalgamate.add_argument(
        "--logdir",
        metavar="DIR",
        default=None,
        help="TensorBoard logs of the run: loss terms, positive rates, each "
        "target label's coverage and agreement every 50 steps, image grids "
        "(default: PATH.logs beside --output; 'none' for no logs)",
    )
    amalgamate.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing output files",
    )
    amalgamate.set_defaults(command_name="amalgamate")

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
    sample.set_defaults(command_name="sample")

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
        type=_open_unit_interval,
        default=0.5,
        help="decision threshold of accuracy, in (0, 1) (default: 0.5)",
    )
    evaluate.add_argument(
        "--output", metavar="REPORT.json", help="also write the report as JSON"
    )
    evaluate.add_argument(
        "--overwrite", action="store_true", help="replace an existing report"
    )
    evaluate.set_defaults(command_name="evaluate")

    # inspect ---------------------------------------------------------------
    inspect = commands.add_parser(
        "inspect",
        parents=[common],
        allow_abbrev=False,
        help="list a model's layers (to choose --blocks)",
        description="Prints each layer's name, class and output shape (the "
        "layers of nested models inlined, as a teacher sees them), the "
        "proposed --blocks (the stage ends) of a teacher, and a TargetNet's "
        "target labels.",
    )
    inspect.add_argument("--model", required=True, metavar="PATH.keras")
    inspect.set_defaults(command_name="inspect")
    add_export_parser(commands, common)
    return parser
