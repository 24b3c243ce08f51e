"""`keras-dfka sample`, `evaluate` and `inspect`."""

import os

import numpy as np

from keras_dfka.cli.common import PROG
from keras_dfka.cli.common import CommandError
from keras_dfka.cli.common import check_writable
from keras_dfka.cli.common import load_model
from keras_dfka.cli.common import refuse_overwrite
from keras_dfka.cli.common import require_dir
from keras_dfka.cli.common import require_file
from keras_dfka.cli.common import shape_text


def run_sample(args):
    require_file(args.generator, "--generator")
    refuse_overwrite([args.output], "--output", args.overwrite)
    check_writable(args.output, "--output")
    from keras_dfka.datasets import draw_latents
    from keras_dfka.utils.visualization import save_image_grid

    generator = load_model(args.generator, "--generator")
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
    z = draw_latents(args.num, latent_dim, args.seed)
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


def run_evaluate(args):
    if args.images is not None and args.labels_csv is None:
        raise CommandError("argument --labels-csv: required with --images")
    if args.celeba_dir is not None and args.labels_csv is not None:
        raise CommandError("argument --labels-csv: only with --images")
    if args.output is not None:
        refuse_overwrite([args.output], "--output", args.overwrite)
        check_writable(args.output, "--output")
    require_file(args.model, "--model")
    if args.celeba_dir is not None:
        require_dir(args.celeba_dir, "--celeba-dir")
    else:
        require_dir(args.images, "--images")
        require_file(args.labels_csv, "--labels-csv")

    import keras_dfka
    from keras_dfka import datasets
    from keras_dfka.evaluation import binary_report
    from keras_dfka.evaluation import environment_info
    from keras_dfka.evaluation import format_table
    from keras_dfka.evaluation import write_json
    from keras_dfka.utils import map_batches

    def predict(images):
        try:
            target.check_images(images)
        except ValueError as error:
            raise CommandError(f"argument --model: {error}") from None
        return map_batches(
            lambda x: target.labels_from_outputs(target.predict_on_batch(x)),
            images,
            args.batch_size,
        )

    target = load_model(args.model, "--model")
    if not isinstance(target, keras_dfka.TargetNet) or target.label_plan is None:
        raise CommandError(
            f"argument --model: '{args.model}' is not a keras-dfka TargetNet "
            f"(a {type(target).__name__}); save one with '{PROG} amalgamate'"
        )
    target_labels = target.target_labels
    input_shape = tuple(target.inputs[0].shape[1:])
    size = input_shape[:2]

    if args.celeba_dir is not None:
        attribute_file = os.path.join(args.celeba_dir, "list_attr_celeba.txt")
        require_file(attribute_file, "--celeba-dir")
        available = datasets.read_celeba_attribute_names(attribute_file)
        columns = [datasets.find_label_column(t, available) for t in target_labels]
        missing = [label for label, c in zip(target_labels, columns) if c is None]
        if missing:
            raise CommandError(
                f"argument --celeba-dir: '{attribute_file}' has no labels "
                f"{missing} for the model's target labels; available: {available}"
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
            predictions.append(predict(images))
            truth.append(labels)
        y_prob, y_true = np.concatenate(predictions), np.concatenate(truth)
        source = f"CelebA '{args.celeba_dir}' split {args.split}"
    else:
        try:
            filenames, y_true = datasets.read_labels_csv(args.labels_csv, target_labels)
        except ValueError as error:
            raise CommandError(f"argument --labels-csv: {error}") from None
        if args.max_images is not None:
            filenames, y_true = filenames[: args.max_images], y_true[: args.max_images]
        if input_shape[-1] not in (1, 3, 4):
            raise CommandError(
                f"argument --model: evaluate supports models with 1, 3 or 4 input "
                f"channels; the model has {input_shape[-1]}"
            )
        try:
            images = datasets.load_images(args.images, filenames, size, input_shape[-1])
        except ValueError as error:
            raise CommandError(f"argument --images: {error}") from None
        y_prob = predict(images)
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
    notes = undefined_auc_notes(report, len(y_true))
    for note in notes:
        print(f"note: {note}")
    if np.isnan(report["mean"]["roc_auc"]):
        print("mean ROC-AUC: undefined (no label has both classes in these images)")
    else:
        print(f"mean ROC-AUC: {report['mean']['roc_auc']:.4f}")
    if args.output is not None:
        write_json(
            {
                "command": "evaluate",
                "model": args.model,
                "source": source,
                "num_images": int(len(y_true)),
                "target_labels": target_labels,
                "threshold": args.threshold,
                **report,
                "notes": notes,
                "environment": environment_info(),
            },
            args.output,
        )
        print(f"saved {args.output}")
    return 0


def undefined_auc_notes(report, num_images):
    """Why each `nan` ROC-AUC of a `binary_report` is undefined.

    ROC-AUC ranks positives against negatives: a label whose images are all
    positive or all negative has none to rank (the mean leaves it out).
    """
    notes = []
    for label, values in report["per_label"].items():
        if not np.isnan(values["roc_auc"]):
            continue
        rate = values["positive_rate"]
        if np.isnan(rate):
            why = "there are no images"
        else:
            kind = "1 (positive)" if rate >= 0.5 else "0 (negative)"
            why = f"all {num_images} images have label {kind}"
        notes.append(
            f"ROC-AUC of '{label}' is undefined (nan): {why}, so there is no "
            "positive-negative pair to rank; the mean ROC-AUC leaves it out"
        )
    return notes


def _layer_output_shape(layer):
    try:
        output = layer.output
    except (AttributeError, ValueError):  # Unbuilt, or called several times.
        from keras_dfka.utils.keras_internals import call_count

        return "-" if not call_count(layer) else "(several calls)"
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return ", ".join(shape_text(o.shape) for o in output)
    return shape_text(output.shape)


def run_inspect(args):
    import keras_dfka
    from keras_dfka.evaluation import count_params
    from keras_dfka.evaluation import format_table
    from keras_dfka.models.model_graph import flatten_model
    from keras_dfka.models.model_graph import has_nested_models
    from keras_dfka.models.model_graph import propose_blocks

    model = load_model(args.model, "--model")
    inputs = getattr(model, "inputs", None) or []
    print(
        f"model '{model.name}' ({type(model).__name__}), {count_params(model):,} "
        "parameters"
    )
    if inputs:
        print("inputs: " + ", ".join(shape_text(i.shape) for i in inputs))
    is_target = isinstance(model, keras_dfka.TargetNet)
    shown, proposed, why_not = model, [], None
    if not is_target and len(inputs) == 1 and hasattr(model, "_nodes_by_depth"):
        if has_nested_models(model):
            shown, _ = flatten_model(model, copy_weights=False)
            print(
                "nested models are inlined: the layers below are those a "
                "keras_dfka.Teacher (and --blocks) sees"
            )
        try:
            proposed = propose_blocks(shown)
        except ValueError as error:
            why_not = str(error)
    rows = []
    for index, layer in enumerate(shown.layers):
        rows.append(
            {
                "index": index,
                "name": layer.name,
                "class": type(layer).__name__,
                "output_shape": _layer_output_shape(layer),
                "parameters": count_params(layer) if layer.built else 0,
                "stage_end": "*" if layer.name in proposed else "",
            }
        )
    columns = ["index", "name", "class", "output_shape", "parameters"]
    print(format_table(rows, columns + (["stage_end"] if proposed else [])))
    outputs = getattr(model, "outputs", None)
    if outputs:
        names = getattr(model, "output_names", None) or [""] * len(outputs)
        print(
            "outputs: "
            + ", ".join(
                f"{name} {shape_text(o.shape)}".strip()
                for name, o in zip(names, outputs)
            )
        )
    if isinstance(model, keras_dfka.TargetNet) and model.label_plan is not None:
        print("target labels: " + ", ".join(model.target_labels))
        tasks = {}
        for label, (task, _) in zip(model.target_labels, model.columns):
            tasks.setdefault(task, []).append(label)
        for task, activation in model.activations.items():
            labels = ", ".join(tasks.get(task, []))
            print(f"  output '{task}' ({activation}): {labels}")
    else:
        print(
            "For --blocks, name layers that end a block: each called once, with "
            "no connection skipping across it."
        )
        if proposed:
            print(
                f"proposed --blocks (the {len(proposed)} stage ends, marked *; "
                "with fewer blocks, the last ones): " + ",".join(proposed)
            )
        elif why_not:
            print(f"no --blocks to propose: {why_not}")
    return 0
