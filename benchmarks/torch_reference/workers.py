"""What the comparison's worker subprocesses run (`benchmarks.speed.worker`
dispatches the kinds `torch_fit` and `equivalence` here): the torch
reference's step, timed as `benchmarks.speed.measure.measure_fit` times
`fit()`, and the equivalence check on both stages. Imports torch."""

import math
import time

from benchmarks.common import peak_rss_mb
from benchmarks.speed.measure import step_timings
from benchmarks.speed.models import build_trainer
from benchmarks.torch_reference import equivalence
from benchmarks.torch_reference import stages


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
    baseline = peak_rss_mb()
    started = time.perf_counter()
    model = build_trainer(dict(spec, kind="fit"))
    if spec["stage"] == 1:
        reference = stages.Stage1Reference(model)
    else:
        reference = stages.Stage2Reference(model)
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
    return {
        "kind": "torch_fit",
        "spec": spec,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_compile": bool(spec.get("torch_compile")),
        "build_seconds": build_seconds,
        **step_timings(durations, steps, spec["batch_size"]),
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
    compares them on the same latent batches (`equivalence.check_stage1`
    / `check_stage2`).
    """
    import keras

    from keras_dfka.evaluation import environment_info

    precisions = {}
    # float64 needs no flag under TensorFlow (JAX would need jax_enable_x64).
    dtypes = ("float32", "float64") if keras.backend.backend() == "tensorflow" else ()
    for dtype in dtypes or ("float32",):
        with equivalence.keras_precision(dtype):
            checks = {}
            for stage in spec["stages"]:
                model = build_trainer(
                    dict(spec, stage=stage, jit="auto", augment=False)
                )
                check = (
                    equivalence.check_stage1 if stage == 1 else equivalence.check_stage2
                )
                result = check(
                    model, batch_size=spec["batch_size"], steps=spec["steps"]
                )
                result["passed"] = equivalence.check_passed(result)
                checks[f"stage{stage}"] = result
                keras.backend.clear_session()
        precisions[dtype] = checks
    import torch

    return {
        "kind": "equivalence",
        "spec": spec,
        "tolerances": equivalence.TOLERANCES,
        "precisions": precisions,
        "passed": all(
            r["passed"] for checks in precisions.values() for r in checks.values()
        ),
        "environment": environment_info(),
        "torch_version": torch.__version__,
        "peak_rss_mb": peak_rss_mb(),
    }
