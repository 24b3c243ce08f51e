"""The equivalence check: a Keras trainer and its torch reference on the
same weights and latent batches (`check_stage1`, `check_stage2`), and what
it accepts (`TOLERANCES`, `check_passed`)."""

import contextlib

import numpy as np
import torch

from benchmarks.torch_reference.layers import keras_numpy
from benchmarks.torch_reference.stages import Stage1Reference
from benchmarks.torch_reference.stages import Stage2Reference

# What `check_passed` accepts, per precision of the compared models: the
# relative difference of every logged loss term, of every variable's gradient
# (`|g_keras - g_torch| / |g_keras|`) and of every variable's update after
# the Adam steps. In float32, TensorFlow's and torch's kernels round
# differently and the gradients of the BatchNorm layers fed by a two-stream
# batch (stage 2 at 64x64) differ by up to ~2e-3 (torch's float32 gradients
# are the closer to float64), and Adam, which divides by sqrt(v), turns that
# into update differences up to ~7e-3; in float64 the gradients agree to
# ~1e-7 and the updates to 1e-5 (2-core AMD EPYC, AVX2) or 3e-4 (2-core
# Intel Xeon, AVX-512: the student's last block, stage 2): an element whose
# gradient is near Adam's epsilon moves by `learning_rate * g / epsilon`, so
# its gradient's 1e-7 relative rounding reaches its update undamped. The
# 16x16 unit test (`tests/benchmarks/torch_reference_test.py`) holds the
# updates to 1e-4 in float64, which Adam's epsilon placement needs.
TOLERANCES = {
    "float32": {
        "term_relative": 1e-5,
        "gradient_relative": 1e-2,
        "update_relative": 5e-2,
    },
    "float64": {
        "term_relative": 1e-5,
        "gradient_relative": 1e-5,
        "update_relative": 1e-3,
    },
}


# ------------------------------------------------------------ equivalence
@contextlib.contextmanager
def keras_precision(dtype):
    """Builds Keras models at `dtype` inside the block (`floatx` and the
    global dtype policy, both restored after)."""
    import keras

    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)


def _relative(a, b):
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    norm = float(np.linalg.norm(a))
    if norm == 0.0:
        return float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / norm


def _keras_gradients(model, z):
    """The loss, logs and gradients of `model.compute_step_loss(z,
    training=True)` (gradients only under TensorFlow; else None)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, logs = model.compute_step_loss(z, training=True)
        gradients = tape.gradient(loss, model.trainable_variables)
        gradients = [
            np.zeros(v.shape, "float64") if g is None else np.asarray(g, "float64")
            for g, v in zip(gradients, model.trainable_variables)
        ]
        return loss, logs, gradients
    loss, logs = model.compute_step_loss(z, training=True)
    return loss, logs, None


def _check(model, reference, zs):
    """Compares a Keras trainer and its torch reference. Returns a report."""
    import keras

    trainable = list(model.trainable_variables)
    dtype = keras.backend.standardize_dtype(trainable[0].dtype)
    if dtype == "float64":
        reference.double()
        reference.converter.reload()
    pairs = {id(v): (t, back) for v, t, back in reference.converter.pairs}
    missing = [v.path for v in trainable if id(v) not in pairs]
    if missing:
        raise ValueError(f"Trainable variables without a torch twin: {missing[:5]}")
    zs = [np.asarray(z, dtype) for z in zs]
    loss, logs, gradients = _keras_gradients(model, keras.ops.convert_to_tensor(zs[0]))
    reference.train()
    reference.zero_grad(set_to_none=True)
    t_loss, t_logs = reference.compute_step_loss(torch.from_numpy(zs[0]))
    t_loss.backward()
    terms = {}
    for name, value in logs.items():
        k = float(keras.ops.convert_to_numpy(value))
        t = float(t_logs[name].detach())
        terms[name] = {
            "keras": k,
            "torch": t,
            "relative_difference": abs(k - t) / max(abs(k), 1e-12),
        }
    report = {"dtype": dtype, "batch_size": int(zs[0].shape[0]), "terms": terms}
    report["max_term_relative_difference"] = max(
        t["relative_difference"] for t in terms.values()
    )
    if gradients is not None:
        per_variable = {}
        for v, g in zip(trainable, gradients):
            tensor, back = pairs[id(v)]
            tg = tensor.grad
            tg = np.zeros(v.shape) if tg is None else back(tg.double().numpy())
            per_variable[v.path] = {
                "keras_norm": float(np.linalg.norm(g)),
                "torch_norm": float(np.linalg.norm(tg)),
                "relative_difference": _relative(g, tg),
            }
        report["gradients"] = per_variable
        report["max_gradient_relative_difference"] = max(
            g["relative_difference"] for g in per_variable.values()
        )
    # Adam steps on both sides (a fresh torch optimizer: the Keras trainer is
    # compiled and has not stepped yet).
    optimizer = reference.make_optimizer()
    initial = {id(v): keras_numpy(v, "float64") for v in trainable}
    for z in zs:
        model.train_on_batch(z)
        reference.train_step(torch.from_numpy(z), optimizer)
    worst, worst_path, updates = 0.0, None, {}
    for v in trainable:
        tensor, back = pairs[id(v)]
        k = keras_numpy(v, "float64")
        t = back(tensor.detach().double().numpy())
        diff = float(np.max(np.abs(k - t)))
        if diff > worst:
            worst, worst_path = diff, v.path
        # The Adam updates, compared as whole tensors: Adam divides by
        # sqrt(v), so a near-zero gradient's rounding noise can change its
        # element's update by up to the learning rate.
        updates[v.path] = _relative(k - initial[id(v)], t - initial[id(v)])
    report["adam_steps"] = len(zs)
    report["weights_max_abs_difference"] = worst
    report["weights_worst_variable"] = worst_path
    report["update_relative_difference"] = updates
    report["max_update_relative_difference"] = max(updates.values())
    return report


def _latents(latent_dim, batch_size, steps, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch_size, latent_dim)) for _ in range(steps)]


def check_stage1(gan, batch_size=8, steps=2, seed=0):
    """Compares `AmalgamGAN` and `Stage1Reference` on the same weights.

    The augmentation is off on both sides; the generator's BatchNorm runs in
    training mode. The GAN must be compiled and not yet trained (its Adam
    state is compared with a fresh torch one). A GAN built with
    `keras.config.floatx() == "float64"` is compared with a float64
    reference (the losses themselves still compute in float32).

    Args:
        gan: a compiled `keras_dfka.AmalgamGAN`.
        batch_size: int, the latent batch.
        steps: int, the Adam steps compared (one latent batch each).
        seed: int, the seed of the latent batches.

    Returns:
        A dict: `terms` (per logged term: both values and the relative
        difference), `gradients` (per trainable variable: both norms and
        the relative difference `|g_keras - g_torch| / |g_keras|`;
        TensorFlow only), after `steps` Adam steps the relative difference
        of each variable's update and the largest absolute weight
        difference, and the maxima `max_term_relative_difference`,
        `max_gradient_relative_difference`, `max_update_relative_difference`.
    """
    augment = gan.augment
    gan.augment = False
    try:
        reference = Stage1Reference(gan, augment=False)
        zs = _latents(gan.latent_dim, batch_size, steps, seed)
        return _check(gan, reference, zs)
    finally:
        gan.augment = augment


def check_stage2(dual, batch_size=8, steps=2, seed=0):
    """Compares `DualGenerator` and `Stage2Reference` on the same weights
    (see `check_stage1`)."""
    reference = Stage2Reference(dual)
    zs = _latents(dual.latent_dim, batch_size, steps, seed)
    return _check(dual, reference, zs)


def check_passed(report, tolerances=None):
    """Whether a `check_stage1` / `check_stage2` report is within
    `tolerances` (default `TOLERANCES[report["dtype"]]`)."""
    tolerances = dict(TOLERANCES[report["dtype"]], **(tolerances or {}))
    ok = report["max_term_relative_difference"] <= tolerances["term_relative"]
    if "max_gradient_relative_difference" in report:
        ok = ok and (
            report["max_gradient_relative_difference"]
            <= tolerances["gradient_relative"]
        )
    return ok and (
        report["max_update_relative_difference"] <= tolerances["update_relative"]
    )
