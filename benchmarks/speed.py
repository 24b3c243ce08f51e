"""Training speed, scaling and FLOP throughput of AmalgamGAN and DualGenerator.

    python benchmarks/speed.py --backend=tensorflow  # results/speed_tensorflow.json
    python benchmarks/speed.py --backend=jax         # results/speed_jax.json
    python benchmarks/speed.py --backend=jax --quick # results/speed_jax_quick.json

Against a plain PyTorch reference of the same steps
(`benchmarks/torch_reference.py`; needs torch, e.g. `pip install -e ".[torch]"`):

    python benchmarks/speed.py --reference=torch --backend=tensorflow,jax

first checks that the reference computes our losses, gradients and Adam
updates on the same weights (nothing is timed if it does not), then times
each Keras backend's step and the torch reference's, interleaved in rounds
(`--rounds`), each measurement in a fresh subprocess, with the load average
before and after each round (`run_comparison`; results/speed_vs_torch.json).
Its own flags: `--rounds`, `--torch_threads`, `--torch_compile`.

`--quick` is a smoke run with tiny models (16x16 images, 2 measurements at a
time); its timings only show that everything runs. An existing output file is
kept unless `--overwrite`. Other flags: `--batch_sizes=32,64`, `--jit=on`,
`--stages=1`, `--steps`, `--epochs`, `--jobs`, `--output`.

What is measured (every measurement runs in a fresh subprocess of this script,
so the peak memory is that of one configuration only):

1. Steps/s and samples/s of one stage-1 step (`AmalgamGAN.fit` on
   `keras_dfka.datasets.LatentNoise`) and one stage-2 step
   (`DualGenerator.fit`) for `jit_compile` on and off and several batch
   sizes. The teachers are untrained `teacher_zoo.small_cnn` models (speed
   does not depend on their weights). `fit()` runs one warm-up epoch (it
   includes tracing and compilation) and then timed epochs; each timed epoch
   is measured from `on_epoch_begin` to `on_epoch_end`, where the callback
   first waits for the logs and the model variables to be computed (JAX
   dispatches asynchronously; its state is synced only at epoch end). The
   step time is the median timed epoch over its steps (it includes the
   per-epoch cost of `fit()`, about 15 ms with TensorFlow's tf.data
   iterator); no per-batch callback is used, since one makes Keras convert
   the logs after every step and so serializes JAX's dispatch. Under JAX
   with `jit_compile=False` every op runs eagerly: fewer, shorter epochs.
   Peak memory is `ru_maxrss` of the subprocess (it includes the framework
   itself: `baseline_rss_mb` is the value after the imports).
2. Cost as the work grows: the stage-1 step time at one batch size with the
   default `jit_compile="auto"` (XLA under JAX; plain graphs for TensorFlow
   on CPU) against the number of teachers, of blocks and the image size,
   with the least-squares slope of log(step time) against log(quantity), and
   the same slope of the step's FLOPs (pre-optimization XLA count) to
   compare with.
3. Achieved FLOP throughput: the FLOPs of one stage-1 (and stage-2) training
   step, forward, backward and optimizer update, from XLA's cost analysis of
   the jitted JAX step (`jax.jit(train_step).lower(state, z).compile()
   .cost_analysis()["flops"]`, in a JAX subprocess for either backend: the
   computation is the same), divided by the measured step time and by the
   ceiling, the FLOP/s this backend reaches on a large float32 matrix
   multiply (`2 n^3` FLOPs, median of several runs; the faster of the jitted
   and the plain op, both recorded).

Everything is printed as Markdown and saved, with the environment
(`keras_dfka.evaluation.environment_info()`) and the load average, to the JSON
file given by `--output`.
"""

import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

BACKENDS = ("tensorflow", "jax")
RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
SWEEP_UNITS = {
    "teachers": "teachers",
    "blocks": "blocks",
    "image_size": "pixels (side)",
}

# All defaults live here; `--quick` swaps in QUICK_SETTINGS.
FULL_SETTINGS = {
    "image_size": 64,
    "widths": [16, 32, 64],
    "sweep_widths": [16, 32, 64, 128],
    "num_teachers": 2,
    "labels_per_teacher": 5,
    "target_labels_per_teacher": 2,
    "latent_dim": 100,
    "loss_weights": "default",
    "batch_sizes": [32, 64, 128],
    "jit_modes": ["on", "off"],
    "stages": [1, 2],
    "steps": 10,
    "epochs": 3,
    "eager_jax_steps": 3,
    "eager_jax_epochs": 1,
    "max_seconds_per_run": 120.0,
    "sweep_batch_size": 64,
    "sweep_teachers": [1, 2, 4, 8],
    "sweep_blocks": [2, 3, 4],
    "sweep_image_sizes": [32, 64, 96],
    "flops_batch_sizes": [32, 64, 128],
    "ceiling_size": 2048,
    "ceiling_repeats": 7,
    "timeout_seconds": 1800,
    # Quick runs share a persistent JAX compilation cache between their
    # subprocesses (it cuts the tiny-model set-up, dominated by compiling one
    # weight initializer per shape); full runs do not, so `warmup_seconds`
    # includes all compilation.
    "share_jax_compilation_cache": False,
    # TensorFlow's oneDNN CPU kernels in the subprocesses
    # (TF_ENABLE_ONEDNN_OPTS=1/0): on, as keras_dfka sets them by default
    # (keras_dfka.utils.cpu_kernels); off gives TensorFlow's Eigen kernels, its own
    # default on CPUs without AVX-512 neural-network instructions.
    "tf_onednn": True,
    # Measurements run at once; > 1 makes them compete for the CPU (smoke
    # tests only).
    "jobs": 1,
}

QUICK_SETTINGS = dict(
    FULL_SETTINGS,
    image_size=16,
    widths=[4, 8, 8],
    sweep_widths=[4, 8, 8, 8],
    latent_dim=16,
    batch_sizes=[8],
    steps=5,
    epochs=3,
    eager_jax_steps=1,
    eager_jax_epochs=2,
    max_seconds_per_run=30.0,
    sweep_batch_size=8,
    sweep_teachers=[1, 2],
    sweep_blocks=[2, 3],
    sweep_image_sizes=[16, 32],
    flops_batch_sizes=[8],
    ceiling_size=512,
    ceiling_repeats=5,
    timeout_seconds=300,
    share_jax_compilation_cache=True,
    jobs=2,
)

# `--reference=torch`: our steps against the plain PyTorch reference, on two
# CelebA-like teachers (the face example's CelebA teachers: small_cnn widths
# 16, 32, 64 at 64x64, 8 sigmoid labels each, 4 target labels each).
COMPARE_SETTINGS = {
    "labels_per_teacher": 8,
    "target_labels_per_teacher": 4,
    "batch_sizes": [64, 128],
    "rounds": 3,
    # The equivalence check before the timing: its batch and Adam steps.
    "check_batch_size": 8,
    "check_steps": 2,
    "torch_compile": False,
    "torch_threads": None,
}
QUICK_COMPARE_SETTINGS = dict(
    COMPARE_SETTINGS, batch_sizes=[8], rounds=1, check_batch_size=4
)

FLAGS = flags.FLAGS


def define_flags():
    """Defines the command-line flags (only when run as a script)."""
    flags.DEFINE_list(
        "backend",
        None,
        "Keras backend (default: env); with --reference=torch a list "
        "(e.g. tensorflow,jax): the Keras backends timed against torch.",
    )
    flags.DEFINE_enum(
        "reference",
        None,
        ["torch"],
        "torch: time the stage-1/2 steps against the plain PyTorch reference "
        "(benchmarks/torch_reference.py), interleaved in rounds.",
    )
    flags.DEFINE_integer("rounds", None, "With --reference: rounds of measurements.")
    flags.DEFINE_bool(
        "torch_compile", False, "With --reference=torch: torch.compile the loss."
    )
    flags.DEFINE_integer(
        "torch_threads", None, "With --reference=torch: torch.set_num_threads."
    )
    flags.DEFINE_string(
        "output", None, "JSON path (default: results/speed_<backend>[_quick].json)."
    )
    flags.DEFINE_bool("overwrite", False, "Overwrite an existing --output file.")
    flags.DEFINE_bool(
        "tf_onednn",
        None,
        "TensorFlow's oneDNN CPU kernels in the measurements (default: on, as "
        "keras_dfka sets them); --notf_onednn: TensorFlow's Eigen kernels.",
    )
    flags.DEFINE_bool("quick", False, "Tiny settings for a smoke run (< 2 minutes).")
    flags.DEFINE_list("batch_sizes", None, "Batch sizes of the stage-1/2 runs.")
    flags.DEFINE_list("jit", None, "jit_compile modes of the stage runs: on, off.")
    flags.DEFINE_list("stages", None, "Stages to time: 1, 2.")
    flags.DEFINE_integer("steps", None, "Steps per timed epoch.")
    flags.DEFINE_integer("epochs", None, "Timed epochs (after the warm-up epoch).")
    flags.DEFINE_integer(
        "jobs", None, "Measurements run at once (> 1 only for smoke tests)."
    )
    flags.DEFINE_string("worker", None, "Internal: JSON spec of one measurement.")
    flags.DEFINE_string("worker_output", None, "Internal: where a worker writes.")


# --------------------------------------------------------------------- helpers
def settings_for(quick=False, **overrides):
    """The benchmark settings: full or quick defaults, then overrides."""
    settings = dict(QUICK_SETTINGS if quick else FULL_SETTINGS)
    for key, value in overrides.items():
        if key not in settings:
            raise ValueError(f"Unknown setting {key!r}; known: {sorted(settings)}")
        if value is not None:
            settings[key] = value
    settings["quick"] = bool(quick)
    return settings


def compare_settings_for(quick=False, **overrides):
    """The settings of `--reference=torch`: `settings_for(quick)` with
    `COMPARE_SETTINGS` (or `QUICK_COMPARE_SETTINGS`), then overrides."""
    settings = settings_for(quick)
    settings.update(QUICK_COMPARE_SETTINGS if quick else COMPARE_SETTINGS)
    settings["jobs"] = 1  # Contenders never run at once.
    for key, value in overrides.items():
        if key not in settings:
            raise ValueError(f"Unknown setting {key!r}; known: {sorted(settings)}")
        if value is not None:
            settings[key] = value
    return settings


def default_output(backend, quick=False):
    suffix = "_quick" if quick else ""
    return os.path.join(RESULTS_DIR, f"speed_{backend}{suffix}.json")


def loglog_slope(xs, ys):
    """Least-squares slope of log(y) against log(x) (None if undefined)."""
    points = [
        (math.log(x), math.log(y))
        for x, y in zip(xs, ys)
        if x is not None and y is not None and x > 0 and y > 0
    ]
    if len(points) < 2:
        return None
    mean_x = sum(p[0] for p in points) / len(points)
    mean_y = sum(p[1] for p in points) / len(points)
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx


def peak_rss_mb():
    """`ru_maxrss` of this process in MiB (kilobytes on Linux, bytes on macOS)."""
    import resource

    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / (1024.0 * 1024.0) if sys.platform == "darwin" else value / 1024.0


def model_spec(
    settings,
    stage=1,
    jit="auto",
    batch_size=None,
    num_teachers=None,
    num_blocks=None,
    image_size=None,
):
    """The JSON-able description of one model configuration."""
    num_blocks = num_blocks or len(settings["widths"])
    if num_blocks == len(settings["widths"]):
        widths = list(settings["widths"])
    else:
        widths = list(settings["sweep_widths"][:num_blocks])
    return {
        "stage": int(stage),
        "jit": jit,
        "batch_size": int(batch_size or settings["sweep_batch_size"]),
        "num_teachers": int(num_teachers or settings["num_teachers"]),
        "widths": widths,
        "image_size": int(image_size or settings["image_size"]),
        "labels_per_teacher": settings["labels_per_teacher"],
        "target_labels_per_teacher": settings["target_labels_per_teacher"],
        "latent_dim": settings["latent_dim"],
        "loss_weights": settings["loss_weights"],
    }


def fit_spec(settings, backend, **kwargs):
    spec = model_spec(settings, **kwargs)
    eager_jax = backend == "jax" and spec["jit"] == "off"
    spec["kind"] = "fit"
    spec["steps"] = settings["eager_jax_steps" if eager_jax else "steps"]
    spec["epochs"] = settings["eager_jax_epochs" if eager_jax else "epochs"]
    spec["max_seconds"] = settings["max_seconds_per_run"]
    return spec


# ------------------------------------------------------ worker: build models
# `spec["architecture"]` other than "small_cnn": an untrained
# keras.applications backbone (weights=None), global pooling and a sigmoid
# output, cut at its last `len(spec["widths"])` stage ends
# (`keras_dfka.propose_blocks`); the pixel range it expects.
APPLICATIONS = {
    "mobilenet_v2": ("MobileNetV2", (-1.0, 1.0)),
    "resnet50": ("ResNet50", (0.0, 255.0)),
    "efficientnet_b0": ("EfficientNetB0", (0.0, 255.0)),
}


def application_classifier(architecture, size, num_labels, name):
    """An untrained keras.applications classifier (no weights downloaded)."""
    import keras

    constructor = getattr(keras.applications, APPLICATIONS[architecture][0])
    kwargs = {"alpha": 1.0} if architecture == "mobilenet_v2" else {}
    base = constructor(
        weights=None, include_top=False, input_shape=(size, size, 3), **kwargs
    )
    inputs = keras.Input((size, size, 3), name=f"{name}_image")
    x = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(base(inputs))
    outputs = keras.layers.Dense(num_labels, activation="sigmoid", name=f"{name}_out")(
        x
    )
    return keras.Model(inputs, outputs, name=name)


def build_teachers(spec):
    import keras_dfka
    from keras_dfka.models.teacher_zoo import block_names
    from keras_dfka.models.teacher_zoo import small_cnn

    size = spec["image_size"]
    architecture = spec.get("architecture", "small_cnn")
    teachers = []
    for m in range(spec["num_teachers"]):
        task = keras_dfka.LabelTask(
            f"attributes_{m}",
            [f"t{m}_label{j}" for j in range(spec["labels_per_teacher"])],
            "sigmoid",
        )
        if architecture == "small_cnn":
            model = small_cnn(
                (size, size, 3),
                [task],
                widths=tuple(spec["widths"]),
                name=f"teacher_{m}",
            )
            teacher = keras_dfka.Teacher(model, block_names(model), tasks=[task])
        else:
            model = application_classifier(
                architecture, size, task.num_labels, f"teacher_{m}"
            )
            blocks = keras_dfka.propose_blocks(model, num_blocks=len(spec["widths"]))
            teacher = keras_dfka.Teacher(
                model,
                blocks,
                tasks=[task],
                input_range=APPLICATIONS[architecture][1],
            )
        teachers.append(teacher)
    return teachers


def build_trainer(spec):
    """The compiled AmalgamGAN (stage 1) or DualGenerator (stage 2) of a spec."""
    import keras

    import keras_dfka

    keras.utils.set_random_seed(0)
    if spec.get("dtype_policy"):
        keras.config.set_dtype_policy(spec["dtype_policy"])
    teachers = build_teachers(spec)
    jit = {"on": True, "off": False, "auto": "auto"}[spec["jit"]]
    gan = keras_dfka.AmalgamGAN(
        teachers,
        latent_dim=spec["latent_dim"],
        loss_weights=spec["loss_weights"],
        augment=spec.get("augment"),
    )
    if spec["stage"] == 1:
        gan.compile(jit_compile=jit)
        return gan
    targets = [
        f"t{m}_label{j}"
        for m in range(spec["num_teachers"])
        for j in range(spec["target_labels_per_teacher"])
    ]
    dual = keras_dfka.DualGenerator(gan, target_labels=targets)
    dual.compile(jit_compile=jit)
    return dual


def parameter_count(variables):
    return int(sum(math.prod(v.shape) for v in variables))


# ------------------------------------------------------ worker: measurements
def block_until_ready(model, logs):
    """Waits until the step that produced `logs` and the variables are done."""
    import keras

    values = [keras.ops.convert_to_numpy(v) for v in (logs or {}).values()]
    if keras.backend.backend() == "jax":
        import jax

        jax.block_until_ready([v.value for v in model.variables])
    return values


def measure_fit(spec):
    """Times `fit()` of one configuration after a warm-up epoch.

    Returns a dict with `steps_per_second`, `samples_per_second` and
    `seconds_per_step` (from the median timed epoch; `mean_steps_per_second`
    over all of them), `warmup_seconds` (the first epoch, with tracing and
    compilation), `peak_rss_mb`, `baseline_rss_mb` (after the imports) and the
    resolved `jit_compile`.
    """
    import keras

    import keras_dfka
    from keras_dfka.evaluation import environment_info

    baseline = peak_rss_mb()
    started = time.perf_counter()
    model = build_trainer(spec)
    build_seconds = time.perf_counter() - started
    steps, timed_epochs = spec["steps"], spec["epochs"]
    max_seconds = spec.get("max_seconds") or float("inf")

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.durations = []
            self.start = None
            self.timed_seconds = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            values = block_until_ready(self.model, logs)
            self.durations.append(time.perf_counter() - self.start)
            self.final_logs = [float(v) for v in values]
            if epoch >= 1:
                self.timed_seconds += self.durations[-1]
                if self.timed_seconds > max_seconds:
                    self.model.stop_training = True

    timer = EpochTimer()
    noise = keras_dfka.datasets.LatentNoise(
        spec["latent_dim"], batch_size=spec["batch_size"], steps=steps, seed=0
    )
    model.fit(noise, epochs=1 + timed_epochs, callbacks=[timer], verbose=0)
    timed = timer.durations[1:]
    # The median epoch: robust to a one-off stall (seen with TensorFlow + XLA:
    # creating the next epoch's tf.data iterator sometimes takes seconds).
    seconds_per_step = statistics.median(timed) / steps
    losses_finite = all(math.isfinite(v) for v in timer.final_logs)
    return {
        "kind": "fit",
        "spec": spec,
        "jit_compile": bool(model.jit_compile),
        "build_seconds": build_seconds,
        "warmup_seconds": timer.durations[0],
        "epoch_seconds": timed,
        "timed_steps": steps * len(timed),
        "seconds_per_step": seconds_per_step,
        "steps_per_second": 1.0 / seconds_per_step,
        "samples_per_second": spec["batch_size"] / seconds_per_step,
        "mean_steps_per_second": steps * len(timed) / sum(timed),
        "trainable_parameters": parameter_count(model.trainable_variables),
        "level_shapes": [
            list(shape) for shape in getattr(model, "amalgam_gan", model).level_shapes
        ],
        "losses_finite": losses_finite,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
        "tf_onednn": environment_info()["tensorflow_onednn"],
    }


def jax_step_flops(model, batch_size, latent_dim, optimized=True):
    """XLA's FLOP count of one jitted training step of a compiled JAX model.

    With `optimized=False` only the lowered (pre-optimization) module is
    analysed: no XLA compilation, a few percent off the optimized count.
    """
    import jax
    import numpy as np

    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.optimizer.variables],
        [v.value for v in model.metrics_variables],
    )
    z = np.zeros((batch_size, latent_dim), dtype="float32")
    step = jax.jit(lambda state, data: model.train_step(state, data))
    lowered = step.lower(state, z)
    unoptimized = lowered.cost_analysis()
    if isinstance(unoptimized, (list, tuple)):  # older JAX: one dict per device
        unoptimized = unoptimized[0]
    if not optimized:
        return {"unoptimized_flops": float(unoptimized["flops"])}
    costs = lowered.compile().cost_analysis()
    if isinstance(costs, (list, tuple)):
        costs = costs[0]
    return {
        "flops": float(costs["flops"]),
        "unoptimized_flops": float((unoptimized or {}).get("flops", float("nan"))),
        "bytes_accessed": float(costs.get("bytes accessed", float("nan"))),
    }


def count_flops(spec):
    """FLOPs of one training step for each batch size in `spec` (JAX only)."""
    import keras

    if keras.backend.backend() != "jax":
        raise ValueError("FLOP counting needs KERAS_BACKEND=jax.")
    results = {}
    for stage in spec["stages"]:
        model = build_trainer(dict(spec, stage=stage, jit="on"))
        per_batch = {}
        for batch_size in spec["batch_sizes"]:
            per_batch[str(batch_size)] = jax_step_flops(
                model, batch_size, spec["latent_dim"]
            )
        results[f"stage{stage}"] = per_batch
    return {
        "kind": "flops",
        "spec": spec,
        "method": "jax.jit(train_step).lower().compile().cost_analysis()['flops']",
        "flops": results,
        "peak_rss_mb": peak_rss_mb(),
    }


def count_sweep_flops(spec):
    """Pre-optimization FLOPs of one stage-1 step for each model of a sweep."""
    import keras

    if keras.backend.backend() != "jax":
        raise ValueError("FLOP counting needs KERAS_BACKEND=jax.")
    counts = []
    for model_spec_ in spec["models"]:
        model = build_trainer(dict(model_spec_, jit="on"))
        counts.append(
            jax_step_flops(
                model, model_spec_["batch_size"], model_spec_["latent_dim"], False
            )["unoptimized_flops"]
        )
        keras.backend.clear_session()
    return {
        "kind": "sweep_flops",
        "spec": spec,
        "method": "jax.jit(train_step).lower().cost_analysis()['flops']",
        "flops": counts,
        "peak_rss_mb": peak_rss_mb(),
    }


def median_seconds(fn, repeats):
    """Median wall time of `repeats` calls of `fn`, after one warm-up call."""
    fn()  # warm-up (compilation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_ceiling(size=2048, repeats=7):
    """FLOP/s of a jitted float32 `size x size` matrix multiply on this backend.

    Returns a dict with `jit_flops_per_second` (jitted),
    `eager_flops_per_second` (the plain op without XLA), their median times,
    and `flops_per_second`, the ceiling: the faster of the two (TensorFlow's
    XLA matmul on CPU can be slower than its plain oneDNN/Eigen kernel).
    """
    import keras
    import numpy as np

    from keras_dfka.evaluation import environment_info

    backend = keras.backend.backend()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype("float32")
    b = rng.standard_normal((size, size)).astype("float32")
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        a, b = jnp.asarray(a), jnp.asarray(b)
        jitted = jax.jit(jnp.matmul)

        def run_jit():
            jitted(a, b).block_until_ready()

        def run_eager():
            jnp.matmul(a, b).block_until_ready()

    elif backend == "tensorflow":
        import tensorflow as tf

        a, b = tf.constant(a), tf.constant(b)
        jitted = tf.function(
            lambda x, y: tf.reduce_sum(tf.matmul(x, y)), jit_compile=True
        )
        eager = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))

        def run_jit():
            jitted(a, b).numpy()

        def run_eager():
            eager(a, b).numpy()

    else:
        raise ValueError(f"Unsupported backend {backend!r}")
    flops = 2.0 * size**3
    jit_seconds = median_seconds(run_jit, repeats)
    eager_seconds = median_seconds(run_eager, repeats)
    return {
        "kind": "ceiling",
        "size": size,
        "repeats": repeats,
        "flops": flops,
        "flops_per_second": flops / min(jit_seconds, eager_seconds),
        "jit_median_seconds": jit_seconds,
        "jit_flops_per_second": flops / jit_seconds,
        "eager_median_seconds": eager_seconds,
        "eager_flops_per_second": flops / eager_seconds,
        "environment": environment_info(),
        "peak_rss_mb": peak_rss_mb(),
    }


def load_torch_reference():
    """Imports benchmarks/torch_reference.py (which imports torch)."""
    import importlib.util

    path = os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "torch_reference.py"
    )
    spec = importlib.util.spec_from_file_location("torch_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_available():
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def measure_torch(spec):
    """Times the torch reference's step as `measure_fit` times `fit()`.

    The Keras trainer of the spec is built (under this subprocess's Keras
    backend, torch) only to copy its weights into the reference. Then one
    warm-up block of `steps` steps, and `epochs` timed blocks; each block
    draws its latent batches (`torch.randn`), runs the steps (zero_grad,
    forward, backward, Adam), keeps running sums of the logged terms (as
    Keras's loss trackers do) and ends by reading them (a host sync, as
    `measure_fit` reads the logs at epoch end). The step time is the median
    block over its steps.
    """
    import torch

    if spec.get("torch_threads"):
        torch.set_num_threads(int(spec["torch_threads"]))
    reference_module = load_torch_reference()
    baseline = peak_rss_mb()
    started = time.perf_counter()
    model = build_trainer(dict(spec, kind="fit"))
    if spec["stage"] == 1:
        reference = reference_module.Stage1Reference(model)
    else:
        reference = reference_module.Stage2Reference(model)
    del model
    reference.train()
    optimizer = reference.make_optimizer()
    compute = reference.compute_step_loss
    if spec.get("torch_compile"):
        compute = torch.compile(compute)

    def step(z):
        optimizer.zero_grad(set_to_none=True)
        loss, logs = compute(z, reference.draw_augmentation())
        loss.backward()
        optimizer.step()
        return logs

    build_seconds = time.perf_counter() - started
    steps, timed_blocks = spec["steps"], spec["epochs"]
    max_seconds = spec.get("max_seconds") or float("inf")
    generator = torch.Generator().manual_seed(0)

    def block():
        sums, count = {}, 0
        for _ in range(steps):
            z = torch.randn(spec["batch_size"], spec["latent_dim"], generator=generator)
            logs = step(z)
            with torch.no_grad():
                for name, value in logs.items():
                    value = value.detach()
                    sums[name] = sums[name] + value if name in sums else value
            count += 1
        return [float(v) / count for v in sums.values()]

    durations = []
    timed_seconds = 0.0
    final = []
    for index in range(1 + timed_blocks):
        start = time.perf_counter()
        final = block()
        durations.append(time.perf_counter() - start)
        if index >= 1:
            timed_seconds += durations[-1]
            if timed_seconds > max_seconds:
                break
    timed = durations[1:]
    seconds_per_step = statistics.median(timed) / steps
    return {
        "kind": "torch_fit",
        "spec": spec,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_compile": bool(spec.get("torch_compile")),
        "build_seconds": build_seconds,
        "warmup_seconds": durations[0],
        "epoch_seconds": timed,
        "timed_steps": steps * len(timed),
        "seconds_per_step": seconds_per_step,
        "steps_per_second": 1.0 / seconds_per_step,
        "samples_per_second": spec["batch_size"] / seconds_per_step,
        "mean_steps_per_second": steps * len(timed) / sum(timed),
        "trainable_parameters": int(
            sum(p.numel() for p in reference.parameters() if p.requires_grad)
        ),
        "losses_finite": all(math.isfinite(v) for v in final),
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_equivalence(spec):
    """The torch reference's equivalence check on both stages (a worker).

    For each precision (float32, the benchmark's; float64, which separates
    rounding from a real difference), builds each stage's Keras trainer
    (augmentation off) and its torch reference on the same weights, and
    compares them on the same latent batches (`torch_reference.check_stage1`
    / `check_stage2`).
    """
    import keras

    from keras_dfka.evaluation import environment_info

    reference_module = load_torch_reference()
    precisions = {}
    # float64 needs no flag under TensorFlow (JAX would need jax_enable_x64).
    dtypes = ("float32", "float64") if keras.backend.backend() == "tensorflow" else ()
    for dtype in dtypes or ("float32",):
        with reference_module.keras_precision(dtype):
            stages = {}
            for stage in spec["stages"]:
                model = build_trainer(
                    dict(spec, stage=stage, jit="auto", augment=False)
                )
                check = (
                    reference_module.check_stage1
                    if stage == 1
                    else reference_module.check_stage2
                )
                result = check(
                    model, batch_size=spec["batch_size"], steps=spec["steps"]
                )
                result["passed"] = reference_module.check_passed(result)
                stages[f"stage{stage}"] = result
                keras.backend.clear_session()
        precisions[dtype] = stages
    import torch

    return {
        "kind": "equivalence",
        "spec": spec,
        "tolerances": reference_module.TOLERANCES,
        "precisions": precisions,
        "passed": all(
            r["passed"] for stages in precisions.values() for r in stages.values()
        ),
        "environment": environment_info(),
        "torch_version": torch.__version__,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_worker(spec):
    """Runs one measurement in this process (the subprocess side)."""
    kind = spec["kind"]
    if kind == "fit":
        return measure_fit(spec)
    if kind == "torch_fit":
        return measure_torch(spec)
    if kind == "equivalence":
        return run_equivalence(spec)
    if kind == "flops":
        return count_flops(spec)
    if kind == "sweep_flops":
        return count_sweep_flops(spec)
    if kind == "ceiling":
        return matmul_ceiling(spec["size"], spec["repeats"])
    raise ValueError(f"Unknown worker kind {kind!r}")


# ------------------------------------------------------ parent: orchestration
def run_in_subprocess(spec, backend, timeout=1800, extra_env=None):
    """Runs `run_worker(spec)` in a fresh Python process with `backend`.

    Returns the worker's result dict, or `{"error": ...}` if it failed.
    """
    with tempfile.TemporaryDirectory() as tmp:
        output = os.path.join(tmp, "result.json")
        command = [
            sys.executable,
            os.path.abspath(__file__),
            f"--backend={backend}",
            f"--worker={json.dumps(spec)}",
            f"--worker_output={output}",
        ]
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
        env.update(extra_env or {})
        started = time.perf_counter()
        try:
            process = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, env=env
            )
        except subprocess.TimeoutExpired:
            return {"spec": spec, "error": f"timed out after {timeout} s"}
        wall = time.perf_counter() - started
        if process.returncode != 0 or not os.path.exists(output):
            tail = (process.stderr or "").strip().splitlines()[-15:]
            return {
                "spec": spec,
                "error": f"exit code {process.returncode}",
                "stderr_tail": tail,
            }
        with open(output) as f:
            result = json.load(f)
    result["subprocess_seconds"] = wall
    return result


def jax_available():
    import importlib.util

    return importlib.util.find_spec("jax") is not None


def _log(message):
    print(message, flush=True)


@contextlib.contextmanager
def subprocess_env(settings):
    """The extra environment of a run's subprocesses: TensorFlow's oneDNN
    switch (`settings["tf_onednn"]`) and, when
    `settings["share_jax_compilation_cache"]`, a persistent JAX compilation
    cache they share for the run's length."""
    env = {"TF_ENABLE_ONEDNN_OPTS": "1" if settings["tf_onednn"] else "0"}
    if not settings["share_jax_compilation_cache"]:
        yield env
        return
    with tempfile.TemporaryDirectory() as cache_dir:
        yield dict(
            env,
            JAX_COMPILATION_CACHE_DIR=cache_dir,
            JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        )


def run_benchmark(backend, settings, log=_log):
    """Runs every measurement (each in a subprocess) and returns the report."""
    with subprocess_env(settings) as env:
        return _run_benchmark(backend, settings, log, env)


CONTENDER_NAMES = {"tensorflow": "keras-tensorflow", "jax": "keras-jax"}


def comparison_specs(settings, backends):
    """`[(contender, backend, spec)]` of one round, per (stage, batch size):
    each Keras backend (its default `jit_compile="auto"`) and torch."""
    plan = []
    for stage in settings["stages"]:
        for batch_size in settings["batch_sizes"]:
            for backend in backends:
                spec = fit_spec(
                    settings, backend, stage=stage, jit="auto", batch_size=batch_size
                )
                plan.append((CONTENDER_NAMES[backend], backend, spec))
            spec = fit_spec(
                settings, "torch", stage=stage, jit="auto", batch_size=batch_size
            )
            spec.update(
                kind="torch_fit",
                torch_compile=bool(settings["torch_compile"]),
                torch_threads=settings["torch_threads"],
            )
            plan.append(("torch", "torch", spec))
    return plan


def run_comparison(backends, settings, log=_log):
    """`--reference=torch`: the equivalence check, then interleaved rounds.

    First the torch reference is checked against our trainers (in a
    TensorFlow subprocess when TensorFlow is installed: only there are the
    gradients and the float64 models compared); if it fails, nothing is
    timed. Then, in each
    round and for each (stage, batch size), every contender (the Keras
    backends, then torch; the order rotates by one each round) is timed in
    its own fresh subprocess, one at a time, with `os.getloadavg()` recorded
    before and after the round.

    Returns:
        The report dict (`equivalence`, `rounds`, `summary`, `markdown`).
    """
    with subprocess_env(settings) as env:
        return _run_comparison(backends, settings, log, env)


def _run_comparison(backends, settings, log, extra_env):
    timeout = settings["timeout_seconds"]
    report = {
        "benchmark": "speed_vs_torch",
        "backends": list(backends),
        "quick": settings["quick"],
        "settings": settings,
        "load_average_start": list(os.getloadavg()),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    started = time.perf_counter()
    import importlib.util

    tensorflow = importlib.util.find_spec("tensorflow") is not None
    check_backend = "tensorflow" if tensorflow else backends[0]
    check_spec = dict(
        model_spec(settings, batch_size=settings["check_batch_size"]),
        kind="equivalence",
        stages=settings["stages"],
        steps=settings["check_steps"],
    )
    log(f"[speed] equivalence check of the torch reference ({check_backend})")
    equivalence = run_in_subprocess(check_spec, check_backend, timeout, extra_env)
    report["equivalence"] = equivalence
    report["environment"] = equivalence.get("environment")
    log(_describe_equivalence(equivalence))
    report["rounds"] = []
    if "error" in equivalence or not equivalence.get("passed"):
        log("[speed] the torch reference failed its equivalence check: not timed")
    else:
        plan = comparison_specs(settings, backends)
        contenders = [CONTENDER_NAMES[b] for b in backends] + ["torch"]
        log(
            f"[speed] {settings['rounds']} rounds of {len(plan)} measurements "
            f"({', '.join(contenders)}), one at a time"
        )
        for r in range(settings["rounds"]):
            shift = r % len(contenders)
            order = contenders[shift:] + contenders[:shift]
            load_before = list(os.getloadavg())
            runs = []
            for stage in settings["stages"]:
                for batch_size in settings["batch_sizes"]:
                    cell = {
                        name: (backend, spec)
                        for name, backend, spec in plan
                        if spec["stage"] == stage and spec["batch_size"] == batch_size
                    }
                    for name in order:
                        backend, spec = cell[name]
                        result = run_in_subprocess(spec, backend, timeout, extra_env)
                        result = dict(result, contender=name, round=r)
                        log(f"  round {r + 1} {name}: {_describe(spec, result)[2:]}")
                        runs.append(result)
            report["rounds"].append(
                {
                    "round": r,
                    "order": order,
                    "load_average_before": load_before,
                    "load_average_after": list(os.getloadavg()),
                    "runs": runs,
                }
            )
        report["summary"] = summarize_comparison(report, contenders)
    report["load_average_end"] = list(os.getloadavg())
    report["total_seconds"] = time.perf_counter() - started
    report["markdown"] = format_comparison_markdown(report)
    return report


def summarize_comparison(report, contenders):
    """Per (stage, batch size): each contender's steps/s per round and their
    median, the best Keras contender and its ratio to torch (> 1: Keras is
    faster), also per round."""
    settings = report["settings"]
    rows = []
    for stage in settings["stages"]:
        for batch_size in settings["batch_sizes"]:
            per_contender = {}
            for round_ in report["rounds"]:
                for run in round_["runs"]:
                    spec = run.get("spec", {})
                    if (
                        spec.get("stage") != stage
                        or spec.get("batch_size") != batch_size
                    ):
                        continue
                    per_contender.setdefault(run["contender"], []).append(
                        run.get("steps_per_second")
                    )
            medians = {}
            for name in contenders:
                values = [v for v in per_contender.get(name, []) if v]
                medians[name] = statistics.median(values) if values else None
            keras_names = [n for n in contenders if n != "torch" and medians.get(n)]
            best = max(keras_names, key=lambda n: medians[n]) if keras_names else None
            torch_median = medians.get("torch")
            ratio = medians[best] / torch_median if best and torch_median else None
            round_ratios = []
            for index in range(len(report["rounds"])):
                values = per_contender.get(best, []) if best else []
                torch_values = per_contender.get("torch", [])
                if index < len(values) and index < len(torch_values):
                    if values[index] and torch_values[index]:
                        round_ratios.append(values[index] / torch_values[index])
                        continue
                round_ratios.append(None)
            rows.append(
                {
                    "stage": stage,
                    "batch_size": batch_size,
                    "steps_per_second": per_contender,
                    "median_steps_per_second": medians,
                    "best_keras": best,
                    "best_keras_over_torch": ratio,
                    "best_keras_over_torch_per_round": round_ratios,
                }
            )
    return rows


def default_jit(backend):
    """What `jit_compile="auto"` resolves to on a CPU-only machine."""
    return "on" if backend == "jax" else "off"


def sweep_specs(settings, backend):
    """`{sweep name: [(value, fit spec), ...]}` for the scaling sweeps."""
    jit = default_jit(backend)
    sweeps = {}
    for name, key, values in (
        ("teachers", "num_teachers", settings["sweep_teachers"]),
        ("blocks", "num_blocks", settings["sweep_blocks"]),
        ("image_size", "image_size", settings["sweep_image_sizes"]),
    ):
        sweeps[name] = [
            (value, fit_spec(settings, backend, stage=1, jit=jit, **{key: value}))
            for value in values
        ]
    return sweeps


def stage_specs(settings, backend):
    return [
        fit_spec(settings, backend, stage=stage, jit=jit, batch_size=batch_size)
        for stage in settings["stages"]
        for jit in settings["jit_modes"]
        for batch_size in settings["batch_sizes"]
    ]


def _key(spec):
    return json.dumps(spec, sort_keys=True)


def _describe(spec, result):
    kind = spec["kind"]
    if "error" in result:
        lines = [f"  FAILED {kind}: {short_spec(spec)}: {result['error']}"]
        return "\n".join(lines + [f"    {x}" for x in result.get("stderr_tail", [])])
    took = f"({result['subprocess_seconds']:.0f} s)"
    if kind == "ceiling":
        return (
            f"  matmul n={spec['size']}: "
            f"{result['flops_per_second'] / 1e9:.1f} GFLOP/s {took}"
        )
    if kind == "sweep_flops":
        return f"  sweep FLOPs: {len(result['flops'])} models {took}"
    if kind == "equivalence":
        return _describe_equivalence(result)
    if kind == "flops":
        counts = ", ".join(
            f"{stage} batch {batch}: {entry['flops'] / 1e9:.3f} GFLOP"
            for stage, per_batch in result["flops"].items()
            for batch, entry in per_batch.items()
        )
        return f"  FLOPs per step: {counts} {took}"
    onednn = {True: ", oneDNN", False: ", Eigen kernels"}.get(result.get("tf_onednn"))
    return (
        f"  {short_spec(spec)}: {result['steps_per_second']:.2f} steps/s, "
        f"peak {result['peak_rss_mb']:.0f} MiB{onednn or ''} {took}"
    )


def _run_benchmark(backend, settings, log, extra_env):
    timeout = settings["timeout_seconds"]
    report = {
        "benchmark": "speed",
        "backend": backend,
        "quick": settings["quick"],
        "settings": settings,
        "default_jit": default_jit(backend),
        "load_average_start": list(os.getloadavg()),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    started = time.perf_counter()

    # Plan: every distinct measurement once, with the backend it runs on.
    ceiling_spec = {
        "kind": "ceiling",
        "size": settings["ceiling_size"],
        "repeats": settings["ceiling_repeats"],
    }
    flops_spec = dict(
        model_spec(settings),
        kind="flops",
        stages=settings["stages"],
        batch_sizes=sorted(
            set(settings["flops_batch_sizes"]) | set(settings["batch_sizes"])
        ),
    )
    stages = stage_specs(settings, backend)
    sweeps = sweep_specs(settings, backend)
    sweep_models = {_key(spec): spec for rows in sweeps.values() for _, spec in rows}
    sweep_flops_spec = {"kind": "sweep_flops", "models": list(sweep_models.values())}
    plan = {_key(ceiling_spec): (ceiling_spec, backend)}
    if jax_available():
        plan[_key(flops_spec)] = (flops_spec, "jax")
        plan[_key(sweep_flops_spec)] = (sweep_flops_spec, "jax")
    for spec in stages + [s for rows in sweeps.values() for _, s in rows]:
        plan.setdefault(_key(spec), (spec, backend))

    # Execute, each in its own subprocess.
    jobs = max(1, int(settings["jobs"]))
    log(
        f"[speed] {len(plan)} measurements on {backend} "
        f"({jobs} at a time; FLOPs counted under JAX)"
    )

    def execute(item):
        spec, run_backend = item
        result = run_in_subprocess(spec, run_backend, timeout, extra_env)
        log(_describe(spec, result))
        return result

    items = list(plan.values())
    if jobs == 1:
        outputs = [execute(item) for item in items]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            outputs = list(pool.map(execute, items))
    results = dict(zip(plan, outputs))

    # Assemble.
    report["ceiling"] = results[_key(ceiling_spec)]
    report["environment"] = report["ceiling"].get("environment")
    report["flops"] = results.get(
        _key(flops_spec), {"error": "jax is not installed; no FLOP count"}
    )
    report["runs"] = [annotate_run(results[_key(s)], report) for s in stages]
    sweep_flops = results.get(_key(sweep_flops_spec), {})
    flops_by_model = dict(
        zip(map(_key, sweep_flops_spec["models"]), sweep_flops.get("flops", []))
    )
    report["sweep_flops_method"] = sweep_flops.get("method")
    report["sweeps"] = {}
    for name, rows in sweeps.items():
        runs = []
        for _, spec in rows:
            run = annotate_run(results[_key(spec)], report)
            if flops_by_model.get(_key(spec)):
                annotate_flops(run, flops_by_model[_key(spec)], report)
            runs.append(run)
        values = [value for value, _ in rows]
        seconds = [r.get("seconds_per_step") for r in runs]
        flops = [flops_by_model.get(_key(spec)) for _, spec in rows]
        report["sweeps"][name] = {
            "values": values,
            "seconds_per_step": seconds,
            "slope": loglog_slope(values, seconds),
            "flops_per_step": flops,
            "flops_slope": loglog_slope(values, flops),
            "runs": runs,
        }
    report["load_average_end"] = list(os.getloadavg())
    report["total_seconds"] = time.perf_counter() - started
    report["markdown"] = format_markdown(report)
    return report


def run_flops(report, stage, batch_size):
    flops = report.get("flops") or {}
    entry = (flops.get("flops") or {}).get(f"stage{stage}", {}).get(str(batch_size))
    return entry["flops"] if entry else None


def annotate_run(result, report):
    """Adds FLOPs per step, achieved FLOP/s and the fraction of the ceiling."""
    result = dict(result)
    spec = result.get("spec", {})
    default = model_spec(report["settings"])
    same_model = all(
        spec.get(k) == default[k]
        for k in ("num_teachers", "widths", "image_size", "latent_dim", "loss_weights")
    )
    flops = (
        run_flops(report, spec.get("stage"), spec.get("batch_size"))
        if same_model
        else None
    )
    return annotate_flops(result, flops, report)


def annotate_flops(result, flops, report):
    """Sets `flops_per_step`, `achieved_flops_per_second`, `fraction_of_ceiling`."""
    ceiling = (report.get("ceiling") or {}).get("flops_per_second")
    result["flops_per_step"] = flops
    if flops and "steps_per_second" in result:
        achieved = flops * result["steps_per_second"]
        result["achieved_flops_per_second"] = achieved
        result["fraction_of_ceiling"] = achieved / ceiling if ceiling else None
    else:
        result["achieved_flops_per_second"] = None
        result["fraction_of_ceiling"] = None
    return result


def short_spec(spec):
    if spec.get("kind") == "ceiling":
        return f"matmul n={spec['size']}"
    if spec.get("kind") == "flops":
        return f"stages {spec['stages']} batches {spec['batch_sizes']}"
    if spec.get("kind") == "sweep_flops":
        return f"{len(spec['models'])} sweep models"
    jit = "eager torch" if spec.get("kind") == "torch_fit" else f"jit={spec['jit']}"
    if spec.get("torch_compile"):
        jit = "torch.compile"
    return (
        f"stage {spec['stage']} {jit} batch={spec['batch_size']} "
        f"teachers={spec['num_teachers']} blocks={len(spec['widths'])} "
        f"size={spec['image_size']}"
    )


# ------------------------------------------------------------------ reporting
def _fmt(value, pattern="{:.2f}", missing="n/a"):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    return pattern.format(value)


def format_markdown(report):
    """The Markdown summary of a report from `run_benchmark`."""
    env = report.get("environment") or {}
    ceiling = report.get("ceiling") or {}
    settings = report["settings"]
    lines = [
        f"# Speed benchmark ({report['backend']}"
        f"{', quick' if report['quick'] else ''})",
        "",
        f"- Machine: {env.get('platform', 'n/a')}, {env.get('processor', 'n/a')}, "
        f"{env.get('cpu_count', 'n/a')} CPUs; load average (1, 5, 15 min) "
        f"{_loads(report.get('load_average_start'))} at start, "
        f"{_loads(report.get('load_average_end'))} at end",
        f"- Keras {env.get('keras_version', 'n/a')}, backend "
        f"{env.get('backend', report['backend'])} {env.get('backend_version', '')}, "
        f"Python {env.get('python_version', 'n/a')}"
        + (
            f"; TensorFlow's oneDNN kernels {_onednn_state(report)}"
            if report["backend"] == "tensorflow"
            else ""
        ),
        f"- Teachers: {settings['num_teachers']} x small_cnn widths "
        f"{tuple(settings['widths'])} at {settings['image_size']}x"
        f"{settings['image_size']}x3, {settings['labels_per_teacher']} sigmoid "
        f"labels each; latent_dim {settings['latent_dim']}, loss weights "
        f"'{settings['loss_weights']}'",
        f"- Matmul ceiling (float32 n={ceiling.get('size')}, the faster of "
        f"jitted and plain): "
        f"{_fmt(_giga(ceiling.get('flops_per_second')), '{:.1f}')} GFLOP/s "
        f"(jitted {_fmt(_giga(ceiling.get('jit_flops_per_second')), '{:.1f}')}, "
        f"plain {_fmt(_giga(ceiling.get('eager_flops_per_second')), '{:.1f}')})",
    ]
    if settings["jobs"] > 1:
        lines.append(
            f"- {settings['jobs']} measurements ran at once and competed for the "
            "CPU: a smoke run, not a measurement."
        )
    lines += [
        "",
        "## Training step",
        "",
        "| stage | jit | batch | steps/s | samples/s | ms/step | warm-up s | "
        "GFLOP/step | GFLOP/s | of ceiling | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in report.get("runs", []):
        spec = run.get("spec", {})
        if "error" in run:
            lines.append(
                f"| {spec.get('stage')} | {spec.get('jit')} | "
                f"{spec.get('batch_size')} | failed: {run['error']} |||||||| |"
            )
            continue
        lines.append(
            f"| {spec['stage']} | {spec['jit']} | {spec['batch_size']} | "
            f"{run['steps_per_second']:.2f} | {run['samples_per_second']:.0f} | "
            f"{1000 * run['seconds_per_step']:.1f} | {run['warmup_seconds']:.1f} | "
            f"{_fmt(_giga(run['flops_per_step']), '{:.3f}')} | "
            f"{_fmt(_giga(run['achieved_flops_per_second']), '{:.2f}')} | "
            f"{_fmt(run['fraction_of_ceiling'], '{:.1%}')} | "
            f"{run['peak_rss_mb']:.0f} |"
        )
    flops = report.get("flops") or {}
    if "error" in flops:
        lines += ["", f"FLOP count unavailable: {flops['error']}"]
    lines += [
        "",
        f"## Scaling (stage 1, batch {settings['sweep_batch_size']}, "
        f"jit_compile='auto', i.e. {report['default_jit']})",
        "",
    ]
    for name, sweep in (report.get("sweeps") or {}).items():
        lines += [
            f"### {SWEEP_UNITS.get(name, name)}: log-log slope of step time "
            f"{_fmt(sweep['slope'], '{:.2f}')} (of FLOPs "
            f"{_fmt(sweep.get('flops_slope'), '{:.2f}')})",
            "",
            f"| {name} | ms/step | steps/s | GFLOP/step | GFLOP/s | of ceiling | "
            "peak RSS MiB |",
            "|---|---|---|---|---|---|---|",
        ]
        for value, run in zip(sweep["values"], sweep["runs"]):
            if "error" in run:
                lines.append(f"| {value} | failed: {run['error']} ||||| |")
                continue
            lines.append(
                f"| {value} | {1000 * run['seconds_per_step']:.1f} | "
                f"{run['steps_per_second']:.2f} | "
                f"{_fmt(_giga(run['flops_per_step']), '{:.3f}')} | "
                f"{_fmt(_giga(run['achieved_flops_per_second']), '{:.2f}')} | "
                f"{_fmt(run['fraction_of_ceiling'], '{:.1%}')} | "
                f"{run['peak_rss_mb']:.0f} |"
            )
        lines.append("")
    if report.get("sweep_flops_method"):
        lines.append(
            "Sweep FLOPs are pre-optimization counts "
            f"(`{report['sweep_flops_method']}`)."
        )
    return "\n".join(lines)


def _describe_equivalence(result):
    if "error" in result:
        return "\n".join(
            [f"  FAILED equivalence check: {result['error']}"]
            + [f"    {x}" for x in result.get("stderr_tail", [])]
        )
    parts = []
    for dtype, stages in result["precisions"].items():
        for stage, check in stages.items():
            gradient = check.get("max_gradient_relative_difference")
            parts.append(
                f"{stage} {dtype}: terms "
                f"{check['max_term_relative_difference']:.1e}, gradients "
                f"{_fmt(gradient, '{:.1e}')}, Adam updates "
                f"{check['max_update_relative_difference']:.1e} "
                f"({'passed' if check['passed'] else 'FAILED'})"
            )
    return "  equivalence (max relative differences): " + "; ".join(parts)


def _onednn_state(report):
    """ "on" / "off" as the TensorFlow runs of a comparison report measured
    it (TF_ENABLE_ONEDNN_OPTS of the settings if none reported)."""
    runs = list(report.get("runs", []))
    runs += [run for r in report.get("rounds", []) for run in r["runs"]]
    seen = {run["tf_onednn"] for run in runs if run.get("tf_onednn") is not None}
    if not seen:
        return f"requested {'on' if report['settings']['tf_onednn'] else 'off'}"
    return "/".join(sorted({True: "on", False: "off"}[x] for x in seen))


def format_comparison_markdown(report):
    """The Markdown summary of a `run_comparison` report."""
    env = report.get("environment") or {}
    settings = report["settings"]
    equivalence = report.get("equivalence") or {}
    torch_run = next(
        (
            run
            for round_ in report.get("rounds", [])
            for run in round_["runs"]
            if run.get("kind") == "torch_fit"
        ),
        {},
    )
    lines = [
        f"# Speed against the PyTorch reference{' (quick)' if report['quick'] else ''}",
        "",
        f"- Machine: {env.get('platform', 'n/a')}, {env.get('processor', 'n/a')}, "
        f"{env.get('cpu_count', 'n/a')} CPUs; load average (1, 5, 15 min) "
        f"{_loads(report.get('load_average_start'))} at start, "
        f"{_loads(report.get('load_average_end'))} at end",
        f"- Keras {env.get('keras_version', 'n/a')} "
        f"({', '.join(report['backends'])}, jit_compile='auto'); torch "
        f"{torch_run.get('torch_version', equivalence.get('torch_version', 'n/a'))}"
        f", {torch_run.get('torch_threads', 'n/a')} threads "
        f"({torch_run.get('torch_interop_threads', 'n/a')} inter-op), "
        f"torch.compile {'on' if settings['torch_compile'] else 'off'}; "
        f"TensorFlow's oneDNN kernels {_onednn_state(report)}",
        f"- Teachers: {settings['num_teachers']} x small_cnn widths "
        f"{tuple(settings['widths'])} at {settings['image_size']}x"
        f"{settings['image_size']}x3, {settings['labels_per_teacher']} sigmoid "
        f"labels each ({settings['target_labels_per_teacher']} targets each); "
        f"latent_dim {settings['latent_dim']}, loss weights "
        f"'{settings['loss_weights']}', augmentation on; "
        f"{settings['epochs']} timed blocks of {settings['steps']} steps after "
        "a warm-up block, median block",
    ]
    if "error" in equivalence or "precisions" not in equivalence:
        lines.append(
            f"- Equivalence check: FAILED ({equivalence.get('error', 'no result')})"
        )
    else:
        lines.append(
            f"- Equivalence check (batch {settings['check_batch_size']}, "
            "augmentation off, same weights, "
            f"{equivalence['environment'].get('backend', 'n/a')}): "
            f"{'passed' if equivalence['passed'] else 'FAILED'}"
        )
        lines += [
            "",
            "| precision | stage | term | Keras | torch | relative difference |",
            "|---|---|---|---|---|---|",
        ]
        for dtype, stages in equivalence["precisions"].items():
            for stage, check in stages.items():
                for term, values in check["terms"].items():
                    lines.append(
                        f"| {dtype} | {stage[-1]} | {term} | {values['keras']:.6g} | "
                        f"{values['torch']:.6g} | "
                        f"{values['relative_difference']:.1e} |"
                    )
                lines.append(
                    f"| {dtype} | {stage[-1]} | gradients (max over variables) "
                    "| | | "
                    f"{_fmt(check.get('max_gradient_relative_difference'), '{:.1e}')}"
                    " |"
                )
                lines.append(
                    f"| {dtype} | {stage[-1]} | updates after "
                    f"{check['adam_steps']} Adam steps (max over variables) | | | "
                    f"{check['max_update_relative_difference']:.1e} |"
                )
    summary = report.get("summary")
    if not summary:
        return "\n".join(lines)
    contenders = [CONTENDER_NAMES[b] for b in report["backends"]] + ["torch"]
    lines += [
        "",
        f"## Steps/s (median over {settings['rounds']} round(s))",
        "",
        "| stage | batch | " + " | ".join(contenders) + " | best Keras / torch |",
        "|---|---|" + "---|" * len(contenders) + "---|",
    ]
    for row in summary:
        medians = row["median_steps_per_second"]
        lines.append(
            f"| {row['stage']} | {row['batch_size']} | "
            + " | ".join(_fmt(medians.get(n)) for n in contenders)
            + f" | {_fmt(row['best_keras_over_torch'])}"
            + (f" ({row['best_keras']})" if row["best_keras"] else "")
            + " |"
        )
    lines += [
        "",
        "## Per round",
        "",
        "| round | order | load before | load after | stage | batch | "
        + " | ".join(contenders)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(contenders),
    ]
    for round_ in report["rounds"]:
        cells = {}
        for run in round_["runs"]:
            spec = run.get("spec", {})
            key = (spec.get("stage"), spec.get("batch_size"))
            value = run.get("steps_per_second")
            cells.setdefault(key, {})[run["contender"]] = (
                _fmt(value) if "error" not in run else "failed"
            )
        for (stage, batch), values in cells.items():
            lines.append(
                f"| {round_['round'] + 1} | {', '.join(round_['order'])} | "
                f"{_loads(round_['load_average_before'])} | "
                f"{_loads(round_['load_average_after'])} | {stage} | {batch} | "
                + " | ".join(values.get(n, "n/a") for n in contenders)
                + " |"
            )
    return "\n".join(lines)


def _loads(values):
    return ", ".join(f"{x:.2f}" for x in values) if values else "n/a"


def _giga(value):
    return None if value is None else value / 1e9


def write_report(report, path, overwrite=False):
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it.")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)


# ----------------------------------------------------------------------- main
def _set_backend(backend):
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != backend:
        raise app.UsageError("--backend must take effect before Keras is imported")
    os.environ["KERAS_BACKEND"] = backend


def _parse_backends():
    """`--backend` as a list (default: KERAS_BACKEND, else tensorflow)."""
    backends = list(FLAGS.backend or [os.environ.get("KERAS_BACKEND", "tensorflow")])
    allowed = BACKENDS + (("torch",) if FLAGS.worker else ())
    for backend in backends:
        if backend not in allowed:
            raise app.UsageError(
                f"--backend must be among {allowed}; got {','.join(backends)!r}"
            )
    if len(set(backends)) != len(backends):
        raise app.UsageError(f"--backend repeats a backend: {','.join(backends)!r}")
    if len(backends) > 1 and not FLAGS.reference:
        raise app.UsageError(
            "--backend takes one backend (a list only with --reference=torch); "
            f"got {','.join(backends)!r}"
        )
    return backends


def _common_overrides():
    overrides = {
        "steps": FLAGS.steps,
        "epochs": FLAGS.epochs,
        "tf_onednn": FLAGS.tf_onednn,
    }
    if FLAGS.batch_sizes:
        try:
            overrides["batch_sizes"] = [int(b) for b in FLAGS.batch_sizes]
        except ValueError:
            raise app.UsageError(
                f"--batch_sizes takes integers; got {FLAGS.batch_sizes}"
            ) from None
        if min(overrides["batch_sizes"]) <= 0:
            raise app.UsageError(
                f"--batch_sizes must be positive; got {FLAGS.batch_sizes}"
            )
    if FLAGS.stages:
        if not set(FLAGS.stages) <= {"1", "2"}:
            raise app.UsageError(f"--stages takes 1 and/or 2; got {FLAGS.stages}")
        overrides["stages"] = [int(s) for s in FLAGS.stages]
    for key in ("steps", "epochs"):
        if overrides[key] is not None and overrides[key] <= 0:
            raise app.UsageError(f"--{key} must be positive; got {overrides[key]}")
    return overrides


def main_reference(backends):
    """`--reference=torch`: our steps against the PyTorch reference."""
    for name in ("jit", "jobs"):
        if getattr(FLAGS, name) is not None:
            raise app.UsageError(
                f"--{name} is not an option of --reference=torch (the Keras "
                "steps run with jit_compile='auto', one measurement at a time)"
            )
    if not torch_available():
        raise app.UsageError("--reference=torch needs torch: pip install torch")
    overrides = _common_overrides()
    if FLAGS.rounds is not None:
        if FLAGS.rounds <= 0:
            raise app.UsageError(f"--rounds must be positive; got {FLAGS.rounds}")
        overrides["rounds"] = FLAGS.rounds
    if FLAGS.torch_threads is not None and FLAGS.torch_threads <= 0:
        raise app.UsageError(
            f"--torch_threads must be positive; got {FLAGS.torch_threads}"
        )
    overrides["torch_threads"] = FLAGS.torch_threads
    overrides["torch_compile"] = FLAGS.torch_compile
    settings = compare_settings_for(FLAGS.quick, **overrides)
    suffix = "_quick" if FLAGS.quick else ""
    output = FLAGS.output or os.path.join(RESULTS_DIR, f"speed_vs_torch{suffix}.json")
    if os.path.exists(output) and not FLAGS.overwrite:
        raise app.UsageError(f"{output} exists; pass --overwrite to replace it.")
    report = run_comparison(backends, settings)
    print()
    print(report["markdown"], flush=True)
    write_report(report, output, overwrite=FLAGS.overwrite)
    print(f"Wrote {output} ({report['total_seconds']:.0f} s)")
    failures = [run for r in report["rounds"] for run in r["runs"] if "error" in run]
    equivalence = report["equivalence"]
    if failures or "error" in equivalence or not equivalence.get("passed"):
        sys.exit(1)


def main(argv):
    del argv
    backends = _parse_backends()
    if FLAGS.reference and not FLAGS.worker:
        # The parent only orchestrates: it imports no Keras backend.
        main_reference(backends)
        return
    if FLAGS.rounds is not None or FLAGS.torch_threads is not None:
        raise app.UsageError("--rounds and --torch_threads need --reference=torch")
    if FLAGS.torch_compile:
        raise app.UsageError("--torch_compile needs --reference=torch")
    backend = backends[0]
    _set_backend(backend)
    if FLAGS.worker:
        if not FLAGS.worker_output:
            raise app.UsageError("--worker needs --worker_output")
        result = run_worker(json.loads(FLAGS.worker))
        with open(FLAGS.worker_output, "w") as f:
            json.dump(result, f)
        return
    overrides = _common_overrides()
    overrides["jobs"] = FLAGS.jobs
    if FLAGS.jit:
        if not set(FLAGS.jit) <= {"on", "off"}:
            raise app.UsageError(f"--jit takes on and/or off; got {FLAGS.jit}")
        overrides["jit_modes"] = list(FLAGS.jit)
    if overrides["jobs"] is not None and overrides["jobs"] <= 0:
        raise app.UsageError(f"--jobs must be positive; got {overrides['jobs']}")
    settings = settings_for(FLAGS.quick, **overrides)
    output = FLAGS.output or default_output(backend, FLAGS.quick)
    if os.path.exists(output) and not FLAGS.overwrite:
        raise app.UsageError(f"{output} exists; pass --overwrite to replace it.")
    report = run_benchmark(backend, settings)
    print()
    print(report["markdown"], flush=True)
    write_report(report, output, overwrite=FLAGS.overwrite)
    print(f"Wrote {output} ({report['total_seconds']:.0f} s)")
    failures = [r for r in report["runs"] if "error" in r] + [
        r for s in report["sweeps"].values() for r in s["runs"] if "error" in r
    ]
    if failures or "error" in report["ceiling"]:
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
