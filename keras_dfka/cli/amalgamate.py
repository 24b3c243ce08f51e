"""`keras-dfka amalgamate`: teachers saved as `.keras` -> a TargetNet."""

import os
import time

from keras_dfka.cli.common import MODEL_SUFFIX
from keras_dfka.cli.common import PROG
from keras_dfka.cli.common import CommandError
from keras_dfka.cli.common import check_writable
from keras_dfka.cli.common import load_model
from keras_dfka.cli.common import refuse_overwrite
from keras_dfka.cli.common import require_file
from keras_dfka.cli.fields import option_of
from keras_dfka.cli.parser import config_changes


def output_paths(output):
    """`(target, generator, summary)` paths for an `--output` of amalgamate."""
    stem = output[: -len(MODEL_SUFFIX)]
    return output, stem + ".generator.keras", stem + ".json"


def check_teacher_groups(specs):
    """Each `--teacher` group has `--labels` or `--tasks` (`--blocks` may be
    left out: see `propose_missing_blocks`)."""
    for index, spec in enumerate(specs, start=1):
        where = f"for --teacher {spec['path']} (teacher {index})"
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


def propose_missing_blocks(specs, models):
    """Fills in `--blocks` where it was left out: the teacher's stage ends
    (`keras_dfka.propose_blocks`), the last `N` of them. `N` is the number of
    blocks of the first teacher given `--blocks`, else the smallest number of
    stage ends among the teachers (every teacher needs the same number).

    Returns:
        The indices of the teachers whose blocks were proposed.
    """
    from keras_dfka.models.model_graph import propose_blocks

    proposals = {}
    for index, (spec, model) in enumerate(zip(specs, models)):
        if "blocks" in spec:
            continue
        try:
            proposals[index] = propose_blocks(model)
        except ValueError as error:
            raise CommandError(
                f"argument --blocks: missing for --teacher {spec['path']} "
                f"(teacher {index + 1}), and none can be proposed: {error}"
            ) from None
    if not proposals:
        return []
    given = [len(spec["blocks"]) for spec in specs if "blocks" in spec]
    count = given[0] if given else min(len(p) for p in proposals.values())
    for index, proposal in proposals.items():
        if len(proposal) < count:
            raise CommandError(
                f"argument --blocks: missing for --teacher {specs[index]['path']} "
                f"(teacher {index + 1}), whose {len(proposal)} stage ends "
                f"{proposal} are fewer than the {count} blocks of the teachers "
                "given --blocks; give its --blocks"
            )
        specs[index]["blocks"] = proposal[-count:]
    return sorted(proposals)


def teacher_names(specs, models):
    """The teachers' names: --name, else the model's name, made unique."""
    given = [spec["name"] for spec in specs if "name" in spec]
    duplicates = sorted({n for n in given if given.count(n) > 1})
    if duplicates:
        raise CommandError(f"argument --name: teacher names repeat: {duplicates}")
    names = []
    for spec, model in zip(specs, models):
        name = spec.get("name") or model.name
        base, suffix = name, 2
        while name in names:
            name, suffix = f"{base}_{suffix}", suffix + 1
        names.append(name)
    return names


def _argument_of(message, spec):
    """The option a `Teacher` error is about."""
    if "`blocks`" in message or "block layer" in message:
        return "--blocks"
    if "`input_range" in message:
        return "--input-range"
    if "non-finite" in message or "NaN" in message:
        return "--teacher"
    if "from_logits=" in message and "tasks" not in spec:
        return "--from-logits"
    return "--tasks" if "tasks" in spec else "--labels"


def build_teacher(spec, index, model, name):
    """A `keras_dfka.Teacher` from one `--teacher` group; its checks' errors
    name the option."""
    import keras_dfka

    task_kwargs = (
        {"labels": spec["labels"], "activation": spec.get("activation", "sigmoid")}
        if "labels" in spec
        else {"tasks": [keras_dfka.LabelTask(**task) for task in spec["tasks"]]}
    )
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
        raise CommandError(
            f"argument {_argument_of(str(error), spec)}: --teacher {spec['path']} "
            f"(teacher {index}): {error} (see '{PROG} inspect')"
        ) from None


def build_config(args):
    """The `AmalgamationConfig` of the arguments; its errors name the option
    of the field they are about (`--preset` for the others)."""
    from keras_dfka.amalgamation import AmalgamationConfig

    try:
        return AmalgamationConfig.from_preset(args.preset, **config_changes(args))
    except ValueError as error:
        raise CommandError(f"argument {option_of(error)}: {error}") from None


def _last_values(history):
    return {key: float(values[-1]) for key, values in history.history.items()}


def run_amalgamate(args):
    start_time = time.time()
    specs = args.teachers
    check_teacher_groups(specs)
    if not args.output.endswith(MODEL_SUFFIX):
        raise CommandError(
            f"argument --output: must end with '{MODEL_SUFFIX}', received "
            f"'{args.output}'"
        )
    config = build_config(args)
    target_path, generator_path, summary_path = output_paths(args.output)
    refuse_overwrite(
        [target_path, generator_path, summary_path], "--output", args.overwrite
    )
    for path in (target_path, generator_path, summary_path):
        check_writable(path, "--output")
    for spec in specs:
        require_file(spec["path"], "--teacher")

    import keras_dfka
    from keras_dfka.evaluation import count_params
    from keras_dfka.evaluation import environment_info
    from keras_dfka.evaluation import write_json
    from keras_dfka.models.label_plan import LabelPlan
    from keras_dfka.trainers.amalgam_gan import find_softmax_task
    from keras_dfka.utils.non_finite import raise_if_non_finite_weights

    models = [load_model(spec["path"], "--teacher") for spec in specs]
    proposed = propose_missing_blocks(specs, models)
    for index in proposed:
        print(
            f"--teacher {specs[index]['path']}: proposed --blocks "
            + ",".join(specs[index]["blocks"])
        )
    names = teacher_names(specs, models)
    teachers = [
        build_teacher(spec, index, model, name)
        for index, (spec, model, name) in enumerate(zip(specs, models, names), 1)
    ]
    try:
        LabelPlan.resolve(teachers, args.target_labels)
    except ValueError as error:
        raise CommandError(f"argument --target-labels: {error}") from None
    if config.uses_balanced_latents:
        try:
            find_softmax_task(teachers, config.balance_task)
        except ValueError as error:
            raise CommandError(f"argument --balance-task: {error}") from None

    os.makedirs(os.path.dirname(os.path.abspath(target_path)), exist_ok=True)
    logdir = args.logdir
    if logdir is None:
        logdir = target_path[: -len(MODEL_SUFFIX)] + ".logs"
    elif logdir.lower() == "none":
        logdir = None
    result = keras_dfka.amalgamate(teachers, args.target_labels, config, logdir=logdir)
    for message in result.coverage_warnings:
        print(f"warning: {message}")
    target = result.target_net
    # Whatever `--check-finite` says, nothing non-finite is written.
    raise_if_non_finite_weights(target, "The amalgamated TargetNet")
    raise_if_non_finite_weights(result.gan.generator, "The trained generator")
    agreement = result.dual.agreement(
        num_samples=args.agreement_samples, seed=config.seed
    )
    target.save(target_path)
    result.gan.generator.save(generator_path)

    teacher_params = {t.name: count_params(m) for t, m in zip(teachers, models)}
    target_params = count_params(target)
    summary = {
        "command": "amalgamate",
        "teachers": [
            {
                "path": spec["path"],
                "name": teacher.name,
                "blocks": list(teacher.blocks),
                "blocks_proposed": index in proposed,
                "labels": teacher.label_names,
                "tasks": [task.get_config() for task in teacher.tasks],
                "from_logits": teacher.from_logits,
                "input_range": list(teacher.input_range),
                "parameters": teacher_params[teacher.name],
            }
            for index, (spec, teacher) in enumerate(zip(specs, teachers))
        ],
        "target_labels": list(args.target_labels),
        "target_tasks": target.task_names,
        "preset": args.preset,
        "config": config.to_dict(),
        "steps": dict(result.steps),
        "balanced_latents": config.balanced_latent_count(),
        "final_losses": {
            stage: _last_values(histories[-1])
            for stage, histories in result.histories.items()
        },
        "parameters": {
            "target_net": target_params,
            "teachers": teacher_params,
            "teachers_total": sum(teacher_params.values()),
            "ratio": target_params / max(1, sum(teacher_params.values())),
        },
        "agreement": agreement,
        "coverage": result.coverage,
        "coverage_warnings": result.coverage_warnings,
        "outputs": {
            "target_net": target_path,
            "generator": generator_path,
            "summary": summary_path,
            "logdir": logdir,
        },
        "environment": environment_info(),
        "timings_s": result.timings,
        "wall_time_s": time.time() - start_time,
    }
    write_json(summary, summary_path)
    print(
        f"TargetNet ({target_params:,} parameters, teachers together "
        f"{sum(teacher_params.values()):,}) for {', '.join(args.target_labels)}\n"
        f"  agreement with the teachers on generated images: "
        f"{agreement['label_agreement']:.3f} (mean absolute error "
        f"{agreement['mean_absolute_error']:.3f})\n"
        f"  saved {target_path}\n  saved {generator_path}\n  saved {summary_path}"
    )
    return 0
