"""The Markdown summary of a speed report (`benchmark.run_benchmark`)."""

from benchmarks.common import fmt
from benchmarks.common import giga
from benchmarks.common import machine_line
from benchmarks.common import onednn_state
from benchmarks.speed.settings import SWEEP_UNITS


def format_markdown(report):
    """The Markdown summary of a report from `run_benchmark`."""
    env = report.get("environment") or {}
    ceiling = report.get("ceiling") or {}
    settings = report["settings"]
    lines = [
        f"# Speed benchmark ({report['backend']}"
        f"{', quick' if report['quick'] else ''})",
        "",
        machine_line(report),
        f"- Keras {env.get('keras_version', 'n/a')}, backend "
        f"{env.get('backend', report['backend'])} {env.get('backend_version', '')}, "
        f"Python {env.get('python_version', 'n/a')}"
        + (
            f"; TensorFlow's oneDNN kernels {onednn_state(report)}"
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
        f"{fmt(giga(ceiling.get('flops_per_second')), '{:.1f}')} GFLOP/s "
        f"(jitted {fmt(giga(ceiling.get('jit_flops_per_second')), '{:.1f}')}, "
        f"plain {fmt(giga(ceiling.get('eager_flops_per_second')), '{:.1f}')})",
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
            f"{fmt(giga(run['flops_per_step']), '{:.3f}')} | "
            f"{fmt(giga(run['achieved_flops_per_second']), '{:.2f}')} | "
            f"{fmt(run['fraction_of_ceiling'], '{:.1%}')} | "
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
            f"{fmt(sweep['slope'], '{:.2f}')} (of FLOPs "
            f"{fmt(sweep.get('flops_slope'), '{:.2f}')})",
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
                f"{fmt(giga(run['flops_per_step']), '{:.3f}')} | "
                f"{fmt(giga(run['achieved_flops_per_second']), '{:.2f}')} | "
                f"{fmt(run['fraction_of_ceiling'], '{:.1%}')} | "
                f"{run['peak_rss_mb']:.0f} |"
            )
        lines.append("")
    if report.get("sweep_flops_method"):
        lines.append(
            "Sweep FLOPs are pre-optimization counts "
            f"(`{report['sweep_flops_method']}`)."
        )
    return "\n".join(lines)
