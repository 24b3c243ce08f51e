"""A speed run: every measurement of `settings`, each in its own worker
subprocess, assembled into one report.

`run_benchmark(backend, settings)` plans the distinct measurements (the
stage-1/2 steps, the scaling sweeps, the FLOP counts, which run under JAX,
and the matmul ceiling), runs them `settings["jobs"]` at a time, adds the
achieved FLOP/s and the fraction of the ceiling to each timed run and the
log-log slopes to each sweep, and formats the report (`report`).
"""

import json
import math
import time

from benchmarks import common
from benchmarks.speed import report as report_module
from benchmarks.speed import worker
from benchmarks.speed.settings import default_jit
from benchmarks.speed.settings import model_spec
from benchmarks.speed.settings import stage_specs
from benchmarks.speed.settings import sweep_specs


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


def run_benchmark(backend, settings, log=common.log):
    """Runs every measurement (each in a subprocess) and returns the report."""
    with common.subprocess_env(settings) as env:
        return _run_benchmark(backend, settings, log, env)


def _key(spec):
    return json.dumps(spec, sort_keys=True)


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


def describe(spec, result):
    """One log line (with the stderr tail of a failure) for a result."""
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
        "load_average_start": common.load_average(),
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
    if common.module_available("jax"):
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
        result = worker.run(spec, run_backend, timeout, extra_env)
        log(describe(spec, result))
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
    report["load_average_end"] = common.load_average()
    report["total_seconds"] = time.perf_counter() - started
    report["markdown"] = report_module.format_markdown(report)
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
