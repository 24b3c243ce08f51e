"""`keras-dfka export`: a saved TargetNet -> SavedModel, LiteRT or ONNX,
checked against the `.keras` model (`keras_dfka.deployment.export_model`)."""

import os

from keras_dfka.cli.common import PROG
from keras_dfka.cli.common import CommandError
from keras_dfka.cli.common import load_model
from keras_dfka.cli.common import require_dir
from keras_dfka.cli.common import require_file
from keras_dfka.cli.parser import _positive_int

FORMATS = ("saved_model", "litert", "onnx")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def add_export_parser(commands, common):
    """Adds the `export` subcommand to `commands` (the subparsers of
    `keras_dfka.cli.parser.build_parser`)."""
    export = commands.add_parser(
        "export",
        parents=[common],
        allow_abbrev=False,
        help="export a TargetNet to SavedModel, LiteRT or ONNX",
        description="Exports a .keras model with Keras's model.export, runs "
        "the artifact with its runtime on images (--images, else random "
        "images in [0, 1]) and refuses it if its outputs differ from the "
        "model's by more than --tolerance (nothing is written then). Prints "
        "the size and the single-image latency. 'saved_model' exports on the "
        "TensorFlow and JAX backends, 'litert' and 'onnx' on TensorFlow; "
        "'onnx' needs pip install \"keras-dfka[onnx]\".",
        epilog="example:\n"
        f"  {PROG} export --model target.keras --format litert "
        "--output target.tflite",
    )
    export.add_argument(
        "--model", required=True, metavar="PATH.keras", help="a saved TargetNet"
    )
    export.add_argument("--format", required=True, choices=FORMATS)
    export.add_argument(
        "--output",
        required=True,
        metavar="PATH",
        help="a directory for saved_model, PATH.tflite for litert, PATH.onnx for onnx",
    )
    export.add_argument(
        "--images",
        metavar="DIR",
        help="check on the images of this folder (resized to the model's "
        "input; default: random images)",
    )
    export.add_argument(
        "--max-images",
        type=_positive_int,
        default=32,
        help="with --images: check at most N of them (default: %(default)s)",
    )
    export.add_argument(
        "--tolerance",
        type=float,  # (checked by check_export_arguments: >= 0)
        default=1e-4,
        help="the largest difference allowed (default: %(default)g)",
    )
    export.add_argument(
        "--overwrite", action="store_true", help="replace an existing output"
    )
    export.set_defaults(command_name="export")
    return export


def run_export(args):
    from keras_dfka import datasets
    from keras_dfka.deployment import export as export_module

    require_file(args.model, "--model")
    if args.images is not None:
        require_dir(args.images, "--images")
    try:
        export_module.check_export_arguments(
            args.format, args.output, args.tolerance, args.overwrite
        )
    except ImportError as error:
        raise CommandError(f"argument --format: {error}") from None
    except ValueError as error:
        raise CommandError(_argument_of(str(error)) + str(error)) from None
    model = load_model(args.model, "--model")
    images = None
    if args.images is not None:
        names = sorted(
            f for f in os.listdir(args.images) if f.lower().endswith(IMAGE_SUFFIXES)
        )[: args.max_images]
        if not names:
            raise CommandError(
                f"argument --images: no image files ({', '.join(IMAGE_SUFFIXES)}) "
                f"in '{args.images}'"
            )
        height, width, channels = tuple(model.inputs[0].shape[1:])
        try:
            images = datasets.load_images(args.images, names, (height, width), channels)
        except ValueError as error:
            raise CommandError(f"argument --images: {error}") from None
    result = export_module.export_model(
        model,
        args.output,
        format=args.format,
        images=images,
        tolerance=args.tolerance,
        overwrite=args.overwrite,
    )
    for line in result.summary():
        print(line)
    return 0


def _argument_of(message):
    for name in ("format", "output", "tolerance"):
        if message.startswith((f"`{name}`", f"{name}=")):
            return f"argument --{name}: "
    return ""
