"""What a worker subprocess measures: `measure_fit` (steps/s of `fit()`),
`count_flops` and `count_sweep_flops` (XLA's FLOP count of the jitted JAX
step) and `matmul_ceiling` (the FLOP/s of a large matrix multiply).

Each returns a JSON-able dict; `worker.run_worker` dispatches a spec to
them. Imports Keras and the backend only inside its functions.
"""

import math
import statistics
import time

from benchmarks.common import median_seconds
from benchmarks.common import peak_rss_mb
from benchmarks.speed.models import build_trainer
from benchmarks.speed.models import parameter_count


def block_until_ready(model, logs):
    """Waits until the step that produced `logs` and the variables are done."""
    import keras

    values = [keras.ops.convert_to_numpy(v) for v in (logs or {}).values()]
    if keras.backend.backend() == "jax":
        import jax

        jax.block_until_ready([v.value for v in model.variables])
    return values


def step_timings(durations, steps, batch_size):
    """The timing fields of a result, from the durations of a warm-up block
    and then timed blocks of `steps` steps each.

    The step time is the median timed block over its steps: robust to a
    one-off stall (seen with TensorFlow + XLA: creating the next epoch's
    tf.data iterator sometimes takes seconds).
    """
    timed = durations[1:]
    seconds_per_step = statistics.median(timed) / steps
    return {
        "warmup_seconds": durations[0],
        "epoch_seconds": timed,
        "timed_steps": steps * len(timed),
        "seconds_per_step": seconds_per_step,
        "steps_per_second": 1.0 / seconds_per_step,
        "samples_per_second": batch_size / seconds_per_step,
        "mean_steps_per_second": steps * len(timed) / sum(timed),
    }


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
    losses_finite = all(math.isfinite(v) for v in timer.final_logs)
    return {
        "kind": "fit",
        "spec": spec,
        "jit_compile": bool(model.jit_compile),
        "build_seconds": build_seconds,
        **step_timings(timer.durations, steps, spec["batch_size"]),
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
