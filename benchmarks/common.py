"""Helpers shared by the benchmark scripts.

- Paths: `ROOT` (the repository), `results_dir(benchmark)`.
- The command line: `set_backend`, `positive_ints`, `require_positive`,
  `refuse_existing`, `command_line`.
- Measurements: `peak_rss_mb`, `median_seconds`, `load_average`,
  `module_available`.
- Subprocesses: `run_in_subprocess` (one measurement in a fresh Python
  process) and `subprocess_env` (the environment a run gives them).
- Results: `write_report`, and for the Markdown tables `fmt`, `loads`,
  `giga`, `machine_line`, `onednn_state`.

Nothing here imports Keras or a backend, so a parent process that only
orchestrates subprocesses stays free of them.
"""

import contextlib
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("tensorflow", "jax")


def results_dir(benchmark):
    """`benchmarks/<benchmark>/results`, where its current results live."""
    return os.path.join(ROOT, "benchmarks", benchmark, "results")


# ------------------------------------------------------------ command line
def set_backend(backend):
    """Sets `KERAS_BACKEND`, refusing if Keras already runs another one."""
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != backend:
        raise app.UsageError("--backend must take effect before Keras is imported")
    os.environ["KERAS_BACKEND"] = backend


def positive_ints(values, name):
    """A list flag's values as positive integers (else a usage error)."""
    try:
        numbers = [int(v) for v in values]
    except ValueError:
        raise app.UsageError(f"--{name} must be integers; got {values!r}") from None
    if not numbers or min(numbers) < 1:
        raise app.UsageError(f"--{name} must be positive integers; got {values!r}")
    return numbers


def require_positive(name, value):
    """A usage error unless `value` (of flag `--name`) is None or positive."""
    if value is not None and value <= 0:
        raise app.UsageError(f"--{name} must be positive; got {value}")
    return value


def refuse_existing(path, overwrite):
    """A usage error when `path` exists and `--overwrite` was not given."""
    if os.path.exists(path) and not overwrite:
        raise app.UsageError(f"{path} exists; pass --overwrite to replace it.")


def log(message):
    """Prints a progress line at once (the runs take minutes)."""
    print(message, flush=True)


def command_line():
    """The command that runs this process, as a results file records it
    (`python -m <module> ...` for a module run with `-m`)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    program = ["-m", spec.name] if spec is not None else sys.argv[:1]
    return " ".join(["python", *program, *sys.argv[1:]])


# ------------------------------------------------------------ measurements
def peak_rss_mb():
    """`ru_maxrss` of this process in MiB (kilobytes on Linux, bytes on macOS)."""
    import resource

    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / (1024.0 * 1024.0) if sys.platform == "darwin" else value / 1024.0


def median_seconds(fn, repeats):
    """Median wall time of `repeats` calls of `fn`, after one warm-up call."""
    fn()  # warm-up (compilation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_average():
    """The 1, 5 and 15 minute load averages."""
    return list(os.getloadavg())


def module_available(name):
    """Whether `name` can be imported (without importing it)."""
    return importlib.util.find_spec(name) is not None


# ------------------------------------------------------------ subprocesses
def run_in_subprocess(module, spec, backend, timeout=1800, extra_env=None):
    """Runs one measurement in a fresh Python process with `backend`.

    The process is `python -m <module> --backend=<backend> --worker=<spec as
    JSON> --worker_output=<file>`, run from the repository root; the module
    writes its result dict as JSON to that file.

    Returns:
        The worker's result dict (with `subprocess_seconds`), or a dict with
        the `spec`, an `error` and the `stderr_tail` if it failed.
    """
    with tempfile.TemporaryDirectory() as tmp:
        output = os.path.join(tmp, "result.json")
        command = [
            sys.executable,
            "-m",
            module,
            f"--backend={backend}",
            f"--worker={json.dumps(spec)}",
            f"--worker_output={output}",
        ]
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
        env.update(extra_env or {})
        started = time.perf_counter()
        try:
            process = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                cwd=ROOT,
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


# ----------------------------------------------------------------- results
def write_report(report, path, overwrite=False):
    """Writes `report` as JSON, refusing to replace a file unless `overwrite`."""
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it.")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)


def fmt(value, pattern="{:.2f}", missing="n/a"):
    """`pattern.format(value)`, or `missing` for None and non-finite values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    return pattern.format(value)


def loads(values):
    """Load averages as `1.00, 2.00, 3.00` (`n/a` if none)."""
    return ", ".join(f"{x:.2f}" for x in values) if values else "n/a"


def giga(value):
    return None if value is None else value / 1e9


def machine_line(report):
    """The Markdown line naming the machine and the load around a run."""
    env = report.get("environment") or {}
    return (
        f"- Machine: {env.get('platform', 'n/a')}, {env.get('processor', 'n/a')}, "
        f"{env.get('cpu_count', 'n/a')} CPUs; load average (1, 5, 15 min) "
        f"{loads(report.get('load_average_start'))} at start, "
        f"{loads(report.get('load_average_end'))} at end"
    )


def onednn_state(report):
    """ "on" / "off" as the TensorFlow runs of a report measured it
    (TF_ENABLE_ONEDNN_OPTS of the settings if none reported)."""
    runs = list(report.get("runs", []))
    runs += [run for r in report.get("rounds", []) for run in r["runs"]]
    seen = {run["tf_onednn"] for run in runs if run.get("tf_onednn") is not None}
    if not seen:
        return f"requested {'on' if report['settings']['tf_onednn'] else 'off'}"
    return "/".join(sorted({True: "on", False: "off"}[x] for x in seen))
