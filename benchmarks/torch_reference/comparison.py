"""The comparison's settings and rounds: the equivalence check, then each
contender (every Keras backend, then torch) timed in its own subprocess,
one at a time, interleaved in rounds (`run_comparison`).

Runs in the parent process, which imports neither Keras nor torch.
"""

import statistics
import time

from benchmarks import common
from benchmarks.speed import worker
from benchmarks.speed.benchmark import describe
from benchmarks.speed.settings import fit_spec
from benchmarks.speed.settings import model_spec
from benchmarks.speed.settings import settings_for
from benchmarks.torch_reference.report import CONTENDER_NAMES
from benchmarks.torch_reference.report import describe_equivalence
from benchmarks.torch_reference.report import format_comparison_markdown

RESULTS_DIR = common.results_dir("torch_reference")


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


def run_comparison(backends, settings, log=common.log):
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
    with common.subprocess_env(settings) as env:
        return _run_comparison(backends, settings, log, env)


def _run_comparison(backends, settings, log, extra_env):
    timeout = settings["timeout_seconds"]
    report = {
        "benchmark": "speed_vs_torch",
        "backends": list(backends),
        "quick": settings["quick"],
        "settings": settings,
        "load_average_start": common.load_average(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    started = time.perf_counter()
    tensorflow = common.module_available("tensorflow")
    check_backend = "tensorflow" if tensorflow else backends[0]
    check_spec = dict(
        model_spec(settings, batch_size=settings["check_batch_size"]),
        kind="equivalence",
        stages=settings["stages"],
        steps=settings["check_steps"],
    )
    log(f"[speed] equivalence check of the torch reference ({check_backend})")
    equivalence = worker.run(check_spec, check_backend, timeout, extra_env)
    report["equivalence"] = equivalence
    report["environment"] = equivalence.get("environment")
    log(describe_equivalence(equivalence))
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
            load_before = common.load_average()
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
                        result = worker.run(spec, backend, timeout, extra_env)
                        result = dict(result, contender=name, round=r)
                        log(f"  round {r + 1} {name}: {describe(spec, result)[2:]}")
                        runs.append(result)
            report["rounds"].append(
                {
                    "round": r,
                    "order": order,
                    "load_average_before": load_before,
                    "load_average_after": common.load_average(),
                    "runs": runs,
                }
            )
        report["summary"] = summarize_comparison(report, contenders)
    report["load_average_end"] = common.load_average()
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
