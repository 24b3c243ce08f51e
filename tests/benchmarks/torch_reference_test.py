"""The plain PyTorch reference (`benchmarks/torch_reference/`) computes our
stage-1 and stage-2 losses, gradients and Adam updates on the same weights."""

import math

import keras
import numpy as np
import pytest
from conftest import BACKEND

import keras_dfka
from benchmarks.speed.models import build_teachers
from benchmarks.speed.models import build_trainer
from benchmarks.speed.settings import model_spec
from benchmarks.speed.settings import settings_for

torch = pytest.importorskip("torch")

# The reference's public names, as the package exports them (torch is
# imported on first use).
from benchmarks import torch_reference as reference  # noqa: E402

pytestmark = pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="the equivalence check compares gradients under TensorFlow",
)


def build(stage, dtype="float32", **overrides):
    """The `--quick` trainer of the speed benchmark (16x16, widths 4, 8, 8), built at
    `dtype`, augmentation off."""
    settings = settings_for(quick=True)
    spec = dict(model_spec(settings, stage=stage, batch_size=8), augment=False)
    spec.update(overrides)
    with reference.keras_precision(dtype):
        return build_trainer(spec)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("stage", [1, 2])
def test_reference_matches_the_keras_step(stage, dtype):
    model = build(stage, dtype)
    check = reference.check_stage1 if stage == 1 else reference.check_stage2
    report = check(model, batch_size=8, steps=2)
    terms = {k: v["relative_difference"] for k, v in report["terms"].items()}
    print(
        f"stage {stage} {dtype}: terms {terms}; gradients "
        f"{report['max_gradient_relative_difference']:.1e}; updates "
        f"{report['max_update_relative_difference']:.1e}; weights "
        f"{report['weights_max_abs_difference']:.1e}"
    )
    assert report["dtype"] == dtype
    expected = set(model.loss_names)
    assert set(report["terms"]) == expected
    for name, values in report["terms"].items():
        assert math.isfinite(values["keras"]), name
        assert values["relative_difference"] <= 1e-5, (name, values)
    assert set(report["gradients"]) == {v.path for v in model.trainable_variables}
    for path, values in report["gradients"].items():
        if values["keras_norm"] > 0:
            assert values["torch_norm"] == pytest.approx(
                values["keras_norm"], rel=1e-4
            ), path
    # float32: TensorFlow's and torch's kernels round differently, and Adam
    # (dividing by sqrt(v)) amplifies that in the updates (8.7e-5 seen here).
    gradients, updates = (1e-4, 1e-3) if dtype == "float32" else (1e-5, 1e-4)
    assert report["max_gradient_relative_difference"] <= gradients
    assert report["max_update_relative_difference"] <= updates
    assert report["weights_max_abs_difference"] <= 1e-4
    assert reference.check_passed(report)


def test_stage1_terms_are_the_default_loss_weights():
    gan = build(1)
    ref = reference.Stage1Reference(gan)
    assert ref.loss_weights == gan.loss_weights
    assert ref.augment is False
    # Stage 1 trains the generator and the filters; the teachers are frozen.
    trainable = sum(p.numel() for p in ref.parameters() if p.requires_grad)
    keras_count = sum(math.prod(v.shape) for v in gan.trainable_variables)
    assert trainable == keras_count


def test_augmentation_flips_and_shifts_one_draw_per_batch():
    gan = build(1)
    ref = reference.Stage1Reference(gan, augment=True, seed=3)
    images = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).reshape(2, 3, 16, 16)
    seen = ref.random_flip_and_shift(images)
    assert seen.shape == images.shape
    # A permutation of each image's own pixels, the same for both images.
    assert torch.equal(
        seen[0].flatten().sort().values, images[0].flatten().sort().values
    )
    shift = seen[1] - seen[0]
    assert torch.all(shift == shift.flatten()[0])
    loss, logs = ref.compute_step_loss(torch.randn(4, gan.latent_dim))
    assert math.isfinite(float(loss.detach())) and set(logs) == set(gan.loss_names)


def test_strided_same_padding_is_tensorflows():
    layer = keras.layers.Conv2D(2, 3, strides=2, padding="same", use_bias=False)
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(layer(x))
    converter = reference.Converter()
    conv = converter.conv2d(layer, "test")[0]
    got = conv(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    np.testing.assert_allclose(got.detach().numpy(), expected, atol=1e-5)


def test_unsupported_configurations_raise_naming_them():
    settings = settings_for(quick=True)
    spec = dict(model_spec(settings, stage=1, batch_size=8), augment=False)
    teachers = build_teachers(spec)
    gan = keras_dfka.AmalgamGAN(teachers, latent_dim=16, latent_targets=True)
    with pytest.raises(ValueError, match="latent_targets"):
        reference.Stage1Reference(gan)
