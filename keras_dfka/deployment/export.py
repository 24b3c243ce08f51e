"""Exports a TargetNet (or any single-input Keras model) for deployment.

```
model (.keras or in memory) --model.export--> artifact (SavedModel | .tflite | .onnx)
artifact, loaded by its own runtime, on images  ~=  model on the same images
```

The artifact is written next to `output` under a temporary name, checked
against the Keras model, and only then moved to `output`: an artifact whose
answers differ by more than `tolerance` is refused and nothing is written.
"""

import dataclasses
import math
import os
import shutil
import tempfile
import time
import warnings

import keras
import numpy as np

# Our format names -> Keras's `model.export(format=...)` names.
KERAS_FORMATS = {"saved_model": "tf_saved_model", "litert": "litert", "onnx": "onnx"}
# The backends on which each format was verified to export and match.
FORMAT_BACKENDS = {
    "saved_model": ("tensorflow", "jax"),
    "litert": ("tensorflow",),
    "onnx": ("tensorflow",),
}
# The modules each format needs beyond TensorFlow, and the extra naming them.
FORMAT_MODULES = {"onnx": ("onnx", "tf2onnx", "onnxruntime")}
FORMAT_SUFFIXES = {"litert": ".tflite", "onnx": ".onnx"}
ONNX_EXTRA = 'pip install "keras-dfka[onnx]"'


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What `export_model` wrote and measured.

    Attributes:
        path: the artifact (a directory for `saved_model`, else a file).
        format: `"saved_model"`, `"litert"` or `"onnx"`.
        size_bytes: the artifact's size on disk (all its files).
        max_difference: the largest absolute difference between the
            artifact's outputs and the Keras model's on the checked images.
        differences: `{output name: largest absolute difference}`.
        num_images: how many images were checked.
        latency_ms: the median time of the artifact on one image, in ms.
        tolerance: the largest difference that was allowed.
    """

    path: str
    format: str
    size_bytes: int
    max_difference: float
    differences: dict
    num_images: int
    latency_ms: float
    tolerance: float

    def summary(self):
        """The lines `keras-dfka export` prints."""
        return [
            f"format: {self.format}",
            f"output: {self.path}",
            f"size: {self.size_bytes:,} bytes ({self.size_bytes / 2**20:.2f} MiB)",
            f"largest difference from the .keras model: {self.max_difference:.3g} "
            f"on {self.num_images} images (tolerance {self.tolerance:g})",
            f"single-image latency: {self.latency_ms:.3f} ms (median)",
        ]


def export_model(
    model,
    output,
    format="saved_model",
    images=None,
    tolerance=1e-4,
    overwrite=False,
    num_images=8,
    seed=0,
    latency_runs=20,
):
    """Exports `model` with Keras's `model.export` and checks the artifact.

    The artifact is loaded with its runtime (`tf.saved_model.load`, the
    LiteRT interpreter, ONNX Runtime), run on `images` (else `num_images`
    random images in `[0, 1]` of the model's input shape, from `seed`), and
    its outputs are compared with the model's, output by output (matched by
    name: a TargetNet's outputs are keyed by task name).

    Args:
        model: a `keras.Model` with one image input (e.g. a
            `keras_dfka.TargetNet`), or the path of a `.keras` file.
        output: where to write: a directory for `"saved_model"`, a
            `.tflite` file for `"litert"`, a `.onnx` file for `"onnx"`.
        format: `"saved_model"`, `"litert"` or `"onnx"` (needs
            `pip install "keras-dfka[onnx]"`). `"saved_model"` exports on the
            TensorFlow and JAX backends, the others on TensorFlow.
        images: optional float array `(n, height, width, channels)`, the
            model's input shape, values in `[0, 1]`.
        tolerance: the largest absolute difference allowed between the
            artifact's and the model's outputs (default 1e-4).
        overwrite: replace an existing `output` (only once the new artifact
            has passed the check).
        num_images: random images to check when `images` is None.
        seed: the seed of the random images.
        latency_runs: runs of the artifact on one image; their median is
            the latency.

    Returns:
        An `ExportResult`.

    Raises:
        ValueError: an unknown format, a format the current backend cannot
            export, an existing `output` without `overwrite`, images of the
            wrong shape, or an artifact that differs by more than
            `tolerance` (then nothing is written).
        ImportError: a package the format needs is not installed (naming
            the extra to install).

    Example:

    ```python
    target = keras_dfka.TargetNet.load("target.keras")
    result = keras_dfka.deployment.export_model(
        target, "target.tflite", format="litert"
    )
    print(result.max_difference, result.size_bytes, result.latency_ms)
    ```
    """
    check_export_arguments(format, output, tolerance, overwrite)
    for name, value in (("num_images", num_images), ("latency_runs", latency_runs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"`{name}` must be a positive int. Received: {name}={value!r}"
            )
    if isinstance(model, (str, os.PathLike)):
        model = _load_keras_model(os.fspath(model))
    if not isinstance(model, keras.Model) or len(model.inputs or []) != 1:
        raise ValueError(
            "`model` must be a Keras model with one input (or a .keras path). "
            f"Received: {type(model).__name__}"
        )
    images = _check_images(model, images, num_images, seed)
    expected = _as_named_outputs(model(images, training=False), model.output_names)

    output = os.fspath(output)
    parent = os.path.dirname(os.path.abspath(output))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".keras-dfka-export-", dir=parent)
    try:
        artifact = os.path.join(staging, os.path.basename(output.rstrip(os.sep)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.export(artifact, format=KERAS_FORMATS[format], verbose=False)
        run = load_artifact(artifact, format, list(expected))
        received = run(images)
        differences = {
            name: float(np.max(np.abs(received[name] - expected[name])))
            for name in expected
        }
        worst = max(differences, key=differences.get)
        if not differences[worst] <= tolerance:  # (also catches NaN)
            raise ValueError(
                f"format={format!r}: the exported model's outputs differ from the "
                f"Keras model's by up to {differences[worst]:.3g} (output "
                f"{worst!r}) on {len(images)} images, more than tolerance="
                f"{tolerance:g}; nothing was written to '{output}'"
            )
        latency = _median_latency_ms(run, images[:1], latency_runs)
        size = _size_on_disk(artifact)
        if os.path.lexists(output):  # Only with overwrite (checked above).
            _remove(output)
        os.replace(artifact, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(
        path=output,
        format=format,
        size_bytes=size,
        max_difference=differences[worst],
        differences=differences,
        num_images=len(images),
        latency_ms=latency,
        tolerance=float(tolerance),
    )


def check_export_arguments(format, output, tolerance, overwrite):
    """The checks `export_model` makes before any work (also used by the
    command line before it loads a model)."""
    if format not in KERAS_FORMATS:
        raise ValueError(
            f"`format` must be one of {sorted(KERAS_FORMATS)}. Received: "
            f"format={format!r}"
        )
    backend = keras.backend.backend()
    if backend not in FORMAT_BACKENDS[format]:
        raise ValueError(
            f"format={format!r} cannot be exported on the {backend!r} backend; "
            f"use the {' or '.join(repr(b) for b in FORMAT_BACKENDS[format])} "
            "backend (KERAS_BACKEND=tensorflow, or keras-dfka --backend "
            "tensorflow)"
        )
    missing = _missing_modules(format)
    if missing:
        raise ImportError(
            f"format={format!r} needs the package(s) {', '.join(missing)}, which "
            f"are not installed; install them with: {ONNX_EXTRA}"
        )
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)):
        raise ValueError(
            f"`tolerance` must be a number >= 0. Received: tolerance={tolerance!r}"
        )
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(
            f"`tolerance` must be a finite number >= 0. Received: "
            f"tolerance={tolerance!r}"
        )
    output = os.fspath(output)
    suffix = FORMAT_SUFFIXES.get(format)
    if suffix and not output.endswith(suffix):
        raise ValueError(
            f"`output` must end with {suffix!r} for format={format!r}. Received: "
            f"output={output!r}"
        )
    if os.path.lexists(output) and not overwrite:
        raise ValueError(
            f"`output` '{output}' already exists; pass overwrite=True (or "
            "--overwrite) to replace it"
        )


def load_artifact(path, format, output_names):
    """Loads an exported artifact with its runtime.

    Args:
        path: the artifact.
        format: `"saved_model"`, `"litert"` or `"onnx"`.
        output_names: the Keras model's output names, in order.

    Returns:
        A function `images -> {output name: numpy array}`.
    """
    loaders = {
        "saved_model": _saved_model_runner,
        "litert": _litert_runner,
        "onnx": _onnx_runner,
    }
    run = loaders[format](path)
    return lambda images: _as_named_outputs(run(images), output_names)


def _saved_model_runner(path):
    import tensorflow as tf

    artifact = tf.saved_model.load(path)
    return lambda images: artifact.serve(tf.constant(images))


def _litert_interpreter(path):
    """The LiteRT interpreter: `ai_edge_litert`'s if installed, else
    TensorFlow's `tf.lite.Interpreter` (deprecated in its favour)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tf.lite.Interpreter(model_path=path)
    return Interpreter(model_path=path)


def _litert_runner(path):
    interpreter = _litert_interpreter(path)
    signatures = interpreter.get_signature_list()
    key = (
        "serving_default" if "serving_default" in signatures else next(iter(signatures))
    )
    runner = interpreter.get_signature_runner(key)
    (input_name,) = signatures[key]["inputs"]
    return lambda images: runner(**{input_name: images})


def _onnx_runner(path):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    names = [o.name for o in session.get_outputs()]
    return lambda images: dict(zip(names, session.run(None, {input_name: images})))


def _as_named_outputs(outputs, names):
    """`{name: numpy array}` from a runtime's outputs, keyed by `names` (the
    Keras model's output names, in order).

    A dict keyed by those names is taken as it is (runtimes may add
    `:0`-like suffixes, which are dropped); a dict with other keys, or a
    list, must have one entry per name and is matched in order (dict keys
    sorted, e.g. `output_0`, `output_1`, ...).
    """
    if isinstance(outputs, dict):
        by_name = {str(k).split(":")[0]: v for k, v in outputs.items()}
        if set(by_name) != set(names):
            if len(by_name) != len(names):
                raise ValueError(
                    f"the exported model has outputs {sorted(by_name)}; expected "
                    f"one per output of the Keras model {list(names)}"
                )
            by_name = dict(zip(names, [by_name[k] for k in _natural_sort(by_name)]))
    else:
        values = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        if len(values) != len(names):
            raise ValueError(
                f"the exported model has {len(values)} outputs; expected one per "
                f"output of the Keras model {list(names)}"
            )
        by_name = dict(zip(names, values))
    return {name: _to_numpy(by_name[name]) for name in names}


def _to_numpy(value):
    if hasattr(value, "numpy"):  # A TensorFlow tensor, whatever the backend.
        value = value.numpy()
    return np.asarray(keras.ops.convert_to_numpy(value), dtype="float64")


def _natural_sort(keys):
    import re

    return sorted(
        keys,
        key=lambda k: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", k)],
    )


def _check_images(model, images, num_images, seed):
    shape = tuple(model.inputs[0].shape[1:])
    if images is None:
        if any(d is None for d in shape):
            raise ValueError(
                "`images` must be given for a model whose input shape "
                f"{shape} has unknown dimensions"
            )
        rng = np.random.default_rng(seed)
        return rng.uniform(0.0, 1.0, size=(num_images, *shape)).astype("float32")
    images = np.asarray(images)
    if images.ndim != len(shape) + 1 or any(
        d is not None and d != s for d, s in zip(shape, images.shape[1:])
    ):
        raise ValueError(
            f"`images` must have shape (n, {', '.join(map(str, shape))}), the "
            f"model's input shape. Received: shape {images.shape}"
        )
    if len(images) == 0:
        raise ValueError("`images` must hold at least one image. Received: 0")
    return images.astype("float32")


def _median_latency_ms(run, image, runs):
    run(image)  # Warm-up (graph tracing, buffer allocation).
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run(image)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def _size_on_disk(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(root, f))
        for root, _, files in os.walk(path)
        for f in files
    )


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def _missing_modules(format):
    import importlib.util

    return [
        m for m in FORMAT_MODULES.get(format, ()) if not importlib.util.find_spec(m)
    ]


def _load_keras_model(path):
    from keras_dfka.models.target_net import TargetNet
    from keras_dfka.models.target_net import label_plan_of

    if not os.path.isfile(path):
        raise ValueError(
            f"`model` must be a .keras file. Received: '{path}' (not found)"
        )
    model = keras.saving.load_model(path, compile=False)
    if label_plan_of(model) is not None:
        model = TargetNet.from_model(model)
    return model
