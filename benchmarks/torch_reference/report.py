"""The Markdown summary of a comparison report (`comparison.run_comparison`)
and the log line of its equivalence check."""

from benchmarks.common import fmt
from benchmarks.common import loads
from benchmarks.common import machine_line
from benchmarks.common import onednn_state

CONTENDER_NAMES = {"tensorflow": "keras-tensorflow", "jax": "keras-jax"}


def describe_equivalence(result):
    """The log lines of an equivalence check's result."""
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
                f"{fmt(gradient, '{:.1e}')}, Adam updates "
                f"{check['max_update_relative_difference']:.1e} "
                f"({'passed' if check['passed'] else 'FAILED'})"
            )
    return "  equivalence (max relative differences): " + "; ".join(parts)


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
        machine_line(report),
        f"- Keras {env.get('keras_version', 'n/a')} "
        f"({', '.join(report['backends'])}, jit_compile='auto'); torch "
        f"{torch_run.get('torch_version', equivalence.get('torch_version', 'n/a'))}"
        f", {torch_run.get('torch_threads', 'n/a')} threads "
        f"({torch_run.get('torch_interop_threads', 'n/a')} inter-op), "
        f"torch.compile {'on' if settings['torch_compile'] else 'off'}; "
        f"TensorFlow's oneDNN kernels {onednn_state(report)}",
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
                    f"{fmt(check.get('max_gradient_relative_difference'), '{:.1e}')}"
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
            + " | ".join(fmt(medians.get(n)) for n in contenders)
            + f" | {fmt(row['best_keras_over_torch'])}"
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
                fmt(value) if "error" not in run else "failed"
            )
        for (stage, batch), values in cells.items():
            lines.append(
                f"| {round_['round'] + 1} | {', '.join(round_['order'])} | "
                f"{loads(round_['load_average_before'])} | "
                f"{loads(round_['load_average_after'])} | {stage} | {batch} | "
                + " | ".join(values.get(n, "n/a") for n in contenders)
                + " |"
            )
    return "\n".join(lines)
