"""Time and memory of one training step as the images grow, on
keras.applications teachers.

    python -m benchmarks.image_sizes.image_sizes --backend=tensorflow
    python -m benchmarks.image_sizes.image_sizes --backend=jax --image_sizes=64,128
    python -m benchmarks.image_sizes.image_sizes --quick   # a smoke run, 32x32

For each image size and stage, two untrained teachers of `--architecture`
(a `keras.applications` backbone with `weights=None`, global pooling and 8
sigmoid labels; cut at their last `--num_blocks` stage ends by
`keras_dfka.propose_blocks`) and the library's default `AmalgamGAN` (stage
1) or `DualGenerator` (stage 2, 4 target labels per teacher) train on
`LatentNoise` at `--batch_size`. Each configuration runs in a fresh
worker subprocess of the speed benchmark (`benchmarks.speed.measure.
measure_fit`: one warm-up epoch
with tracing and compilation, then the median of the timed epochs), so the
peak memory (`ru_maxrss`, which includes the framework) is that of one
configuration only. The report gives steps/s, samples/s, the warm-up, the
trainable parameters, the shared feature shapes (the generator's levels) and
the peak memory, with the environment and the load average, as Markdown and
JSON (`results/image_sizes_<backend>[_<architecture>][_<policy>].json`,
the architecture named unless MobileNetV2, the policy unless float32). An
existing output is kept unless `--overwrite`. `--dtype_policy=mixed_bfloat16`
(or `mixed_float16`) times the same steps under that Keras dtype policy
(teachers included).
"""

import os
import sys

from absl import app
from absl import flags

from benchmarks import common
from benchmarks.speed import worker
from benchmarks.speed.models import APPLICATIONS
from benchmarks.speed.settings import default_jit
from benchmarks.speed.settings import fit_spec
from benchmarks.speed.settings import settings_for

FLAGS = flags.FLAGS

flags.DEFINE_enum(
    "backend", None, list(common.BACKENDS), "Keras backend (default: env)."
)
flags.DEFINE_enum(
    "architecture", "mobilenet_v2", sorted(APPLICATIONS), "Teachers' backbone."
)
flags.DEFINE_list("image_sizes", None, "Image sides (default 64,128,224).")
flags.DEFINE_list("stages", None, "Stages to time: 1, 2 (default both).")
flags.DEFINE_integer("batch_size", None, "Batch size (default 16).")
flags.DEFINE_integer("num_blocks", 3, "Blocks per teacher (stage ends).")
flags.DEFINE_integer("steps", None, "Steps per timed epoch (default 5).")
flags.DEFINE_integer("epochs", None, "Timed epochs after the warm-up (default 2).")
flags.DEFINE_enum(
    "dtype_policy",
    "float32",
    ["float32", "mixed_bfloat16", "mixed_float16"],
    "Keras dtype policy of the teachers and trainers.",
)
flags.DEFINE_bool("quick", False, "A smoke run: 32x32, batch 4, 2 steps.")
flags.DEFINE_string("output", None, "Where the JSON goes.")
flags.DEFINE_bool("overwrite", False, "Overwrite an existing --output file.")

DEFAULTS = {"image_sizes": [64, 128, 224], "batch_size": 16, "steps": 5, "epochs": 2}
QUICK = {"image_sizes": [32], "batch_size": 4, "steps": 2, "epochs": 1}


def settings():
    base = dict(QUICK if FLAGS.quick else DEFAULTS)
    if FLAGS.image_sizes is not None:
        base["image_sizes"] = common.positive_ints(FLAGS.image_sizes, "image_sizes")
    for name in ("batch_size", "steps", "epochs"):
        value = common.require_positive(name, getattr(FLAGS, name))
        if value is not None:
            base[name] = value
    stages = common.positive_ints(FLAGS.stages or ["1", "2"], "stages")
    if set(stages) - {1, 2}:
        raise app.UsageError(f"--stages must be among 1, 2; got {FLAGS.stages!r}")
    base["stages"] = stages
    common.require_positive("num_blocks", FLAGS.num_blocks)
    return base


def spec_for(backend, size, stage, config):
    base = settings_for(
        quick=False,
        steps=config["steps"],
        epochs=config["epochs"],
        max_seconds_per_run=1e9,
    )
    base["labels_per_teacher"] = 8
    base["target_labels_per_teacher"] = 4
    spec = fit_spec(
        base,
        backend,
        stage=stage,
        jit=default_jit(backend),
        batch_size=config["batch_size"],
        image_size=size,
    )
    spec["architecture"] = FLAGS.architecture
    spec["dtype_policy"] = FLAGS.dtype_policy
    spec["widths"] = [0] * FLAGS.num_blocks  # only its length is read
    return spec


def format_markdown(report):
    env = report["environment"]
    cpu = env.get("processor") or env.get("platform")
    lines = [
        f"# Step time and memory by image size ({report['architecture']} teachers)",
        "",
        f"Backend {report['backend']}, Keras {env.get('keras_version')}, "
        f"{env.get('cpu_count')} CPUs ({cpu}); batch "
        f"{report['batch_size']}, {report['num_blocks']} blocks per teacher, two "
        f"teachers; dtype policy {report['dtype_policy']}; load average "
        f"before {report['load_before']}, after "
        f"{report['load_after']}.",
        "",
        "| image | stage | steps/s | samples/s | warm-up s | trainable params "
        "| shared levels | peak RSS MiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in report["runs"]:
        spec = run["spec"]
        if "error" in run:
            lines.append(
                f"| {spec['image_size']} | {spec['stage']} | error: {run['error']} "
                "| | | | | |"
            )
            continue
        levels = " ".join("x".join(str(d) for d in s) for s in run["level_shapes"])
        lines.append(
            f"| {spec['image_size']} | {spec['stage']} "
            f"| {run['steps_per_second']:.3f} | {run['samples_per_second']:.1f} "
            f"| {run['warmup_seconds']:.0f} | {run['trainable_parameters']:,} "
            f"| {levels} | {run['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def main(argv):
    del argv
    backend = FLAGS.backend or os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend not in common.BACKENDS:
        raise app.UsageError(
            f"--backend must be among {common.BACKENDS}; got {backend}"
        )
    config = settings()
    suffix = "" if FLAGS.architecture == "mobilenet_v2" else f"_{FLAGS.architecture}"
    suffix += "" if FLAGS.dtype_policy == "float32" else f"_{FLAGS.dtype_policy}"
    suffix += "_quick" if FLAGS.quick else ""
    output = FLAGS.output or os.path.join(
        common.results_dir("image_sizes"), f"image_sizes_{backend}{suffix}.json"
    )
    common.refuse_existing(output, FLAGS.overwrite)
    common.set_backend(backend)
    from keras_dfka.evaluation import environment_info

    report = {
        "backend": backend,
        "architecture": FLAGS.architecture,
        "batch_size": config["batch_size"],
        "num_blocks": FLAGS.num_blocks,
        "dtype_policy": FLAGS.dtype_policy,
        "quick": FLAGS.quick,
        "environment": environment_info(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "runs": [],
    }
    for size in config["image_sizes"]:
        for stage in config["stages"]:
            spec = spec_for(backend, size, stage, config)
            print(f"image {size}, stage {stage} ...", flush=True)
            result = worker.run(spec, backend, timeout=3600)
            result["spec"] = spec
            result["load_after"] = [round(x, 2) for x in os.getloadavg()]
            report["runs"].append(result)
    report["load_after"] = [round(x, 2) for x in os.getloadavg()]
    markdown = format_markdown(report)
    print(markdown)
    common.write_report(report, output, overwrite=FLAGS.overwrite)
    print(f"\nSaved {output}")
    failed = [r for r in report["runs"] if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(app.run(main))
