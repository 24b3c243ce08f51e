"""The speed benchmark's settings, and the specs of its measurements.

A spec is the JSON-able description of one measurement: what a worker
subprocess builds (`models.build_trainer`) and times (`measure`).
`FULL_SETTINGS` holds every default; `--quick` swaps in `QUICK_SETTINGS`.
"""

import os

from benchmarks import common

RESULTS_DIR = common.results_dir("speed")


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


def default_output(backend, quick=False):
    suffix = "_quick" if quick else ""
    return os.path.join(RESULTS_DIR, f"speed_{backend}{suffix}.json")


def default_jit(backend):
    """What `jit_compile="auto"` resolves to on a CPU-only machine."""
    return "on" if backend == "jax" else "off"


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


def stage_specs(settings, backend):
    return [
        fit_spec(settings, backend, stage=stage, jit=jit, batch_size=batch_size)
        for stage in settings["stages"]
        for jit in settings["jit_modes"]
        for batch_size in settings["batch_sizes"]
    ]


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
