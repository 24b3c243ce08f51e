"""Where the time of a stage-1 step goes, and the generator variants we tried.

    python -m benchmarks.speed.profile_step --backend=tensorflow
    python -m benchmarks.speed.profile_step --backend=jax
    XLA_FLAGS=--xla_cpu_experimental_onednn_custom_call=true \
        python -m benchmarks.speed.profile_step --backend=jax

Times (median of `--repeats` calls after one warm-up call, compiled: a
`tf.function` under TensorFlow, `jax.jit` under JAX) on the configuration of
`speed.py` (2 untrained `small_cnn` teachers, 64x64, batch 128):

- the generator's forward + backward pass (a sum-of-squares loss on its
  outputs) as the library builds it (nearest `UpSampling2D` + `Conv2D`), and
  the same generator with every upsampling group replaced by a sub-pixel
  convolution (the `Conv2D` at the low resolution with 4x the filters, then
  `depth_to_space`; the same FLOPs), the variant we tried and did not keep;
- one teacher's forward pass on the generated images;
- single `3x3` convolutions of the shapes that dominate the step.

It prints a Markdown table and, with `--output`, writes it as JSON with the
environment. `--quick` is a smoke run with tiny shapes.
"""

import os

from absl import app
from absl import flags

from benchmarks import common
from benchmarks.speed.models import build_trainer
from benchmarks.speed.settings import model_spec
from benchmarks.speed.settings import settings_for

flags.DEFINE_enum("backend", None, ["tensorflow", "jax"], "Keras backend.")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_integer("repeats", 7, "Timed calls per measurement.")
flags.DEFINE_string("output", None, "Optional JSON path.")
flags.DEFINE_bool("overwrite", False, "Overwrite an existing --output file.")
flags.DEFINE_bool("quick", False, "Tiny shapes for the smoke test.")
FLAGS = flags.FLAGS


def subpixel_generator(gan):
    """The library generator with each `UpSampling2D(2) -> Conv2D(c)` group
    replaced by `Conv2D(4c) -> depth_to_space(2)` (the same FLOPs)."""
    import keras

    class SubPixelConv(keras.layers.Layer):
        def __init__(self, filters, use_bias, **kwargs):
            super().__init__(**kwargs)
            self.conv = keras.layers.Conv2D(
                4 * filters, 3, padding="same", use_bias=use_bias
            )

        def call(self, x):
            return keras.ops.depth_to_space(self.conv(x), 2)

    source = gan.generator
    names = {layer.name: layer for layer in source.layers}

    def doubled(name):
        layer = names.get(name)
        return isinstance(layer, keras.layers.UpSampling2D) and layer.size == (2, 2)

    def clone(layer):
        if doubled(layer.name):
            return keras.layers.Identity(name=layer.name)
        if layer.name.endswith("_conv") and doubled(layer.name[:-5] + "_upsample"):
            return SubPixelConv(layer.filters, layer.use_bias, name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    return keras.models.clone_model(source, clone_function=clone)


def compiled_grad(model, z):
    """A compiled call of d(sum of mean squares of the outputs)/d(weights)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        @tf.function
        def step(z):
            with tf.GradientTape() as tape:
                outputs = model(z, training=True)
                loss = tf.add_n([tf.reduce_mean(o * o) for o in outputs])
            return tape.gradient(loss, model.trainable_variables)

        return lambda: [g.numpy() for g in step(z)]
    import jax

    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]

    def loss(trainable, frozen, z):
        outputs, _ = model.stateless_call(trainable, frozen, z, training=True)
        return sum(jax.numpy.mean(o * o) for o in outputs)

    grad = jax.jit(jax.grad(loss))
    return lambda: jax.block_until_ready(grad(trainable, frozen, z))


def compiled_call(fn, *args):
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(fn)

        def run():
            out = compiled(*args)
            return [keras.ops.convert_to_numpy(o) for o in tf.nest.flatten(out)]

        return run
    import jax

    compiled = jax.jit(fn)
    return lambda: jax.block_until_ready(compiled(*args))


def measure(batch_size, repeats, quick):
    import keras
    import numpy as np

    def median_ms(run, repeats):
        return 1000.0 * common.median_seconds(run, repeats)

    settings = settings_for(quick=quick)
    spec = model_spec(settings, stage=1, jit="on", batch_size=batch_size)
    gan = build_trainer(spec)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((batch_size, gan.latent_dim)).astype("float32")
    images = gan.generate(z=z, batch_size=batch_size)
    size = spec["image_size"]
    width = spec["widths"][0]
    rows = []

    def add(name, ms, note=""):
        rows.append({"measurement": name, "ms": ms, "note": note})
        print(f"  {name}: {ms:.1f} ms {note}", flush=True)

    add(
        "generator forward + backward (library: UpSampling2D + Conv2D)",
        median_ms(compiled_grad(gan.generator, z), repeats),
    )
    variant = subpixel_generator(gan)
    check = {
        "upsampling_layers": {
            "library": sum(
                isinstance(la, keras.layers.UpSampling2D) for la in gan.generator.layers
            ),
            "subpixel": sum(
                isinstance(la, keras.layers.UpSampling2D) for la in variant.layers
            ),
        },
        "same_output_shapes": [tuple(o.shape) for o in variant.outputs]
        == [tuple(o.shape) for o in gan.generator.outputs],
    }
    print(f"  sub-pixel variant: {check}", flush=True)
    add(
        "generator forward + backward (sub-pixel variant, not kept)",
        median_ms(compiled_grad(variant, z), repeats),
    )
    teacher = gan.teachers[0]
    add(
        "one teacher's forward pass (probabilities)",
        median_ms(compiled_call(lambda x: teacher.image_pass(x)[0], images), repeats),
    )

    def conv(x, w):
        return keras.ops.conv(x, w, padding="same")

    for channels_in, channels_out, side in (
        (3, width, size),
        (width, width, size),
        (spec["widths"][-1], spec["widths"][-1], max(1, size // 4)),
    ):
        x = rng.standard_normal((batch_size, side, side, channels_in))
        w = rng.standard_normal((3, 3, channels_in, channels_out))
        ms = median_ms(
            compiled_call(conv, x.astype("float32"), w.astype("float32")), repeats
        )
        flops = 2.0 * batch_size * side * side * 9 * channels_in * channels_out
        add(
            f"conv 3x3 {channels_in}->{channels_out} at {side}x{side}",
            ms,
            f"({flops / ms / 1e6:.1f} GFLOP/s)",
        )
    return spec, rows, check


def main(argv):
    del argv
    if FLAGS.backend:
        common.set_backend(FLAGS.backend)
    if FLAGS.output:
        common.refuse_existing(FLAGS.output, FLAGS.overwrite)
    if FLAGS.batch_size <= 0 or FLAGS.repeats <= 0:
        raise app.UsageError(
            "--batch_size and --repeats must be positive. Received: "
            f"{FLAGS.batch_size}, {FLAGS.repeats}"
        )
    import keras

    from keras_dfka.evaluation import environment_info

    batch_size = 4 if FLAGS.quick else FLAGS.batch_size
    repeats = 2 if FLAGS.quick else FLAGS.repeats
    print(
        f"[profile_step] {keras.backend.backend()}, batch {batch_size}, "
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}",
        flush=True,
    )
    spec, rows, check = measure(batch_size, repeats, FLAGS.quick)
    print("\n| measurement | median ms | note |\n| --- | --- | --- |")
    for row in rows:
        print(f"| {row['measurement']} | {row['ms']:.1f} | {row['note']} |")
    if FLAGS.output:
        report = {
            "benchmark": "profile_step",
            "spec": spec,
            "repeats": repeats,
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "command": common.command_line(),
            "environment": environment_info(),
            "load_average": common.load_average(),
            "rows": rows,
            "subpixel_variant_check": check,
        }
        common.write_report(report, FLAGS.output, overwrite=FLAGS.overwrite)
        print(f"written: {FLAGS.output}")
    return 0


if __name__ == "__main__":
    app.run(main)
