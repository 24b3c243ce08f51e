"""A plain PyTorch reference of the stage-1 and stage-2 training steps, and
the benchmark that times keras-dfka's steps against it.

    python -m benchmarks.torch_reference.speed_vs_torch --backend=tensorflow,jax

(`speed_vs_torch.py`; needs torch, e.g. `pip install -e ".[torch]"`) times
keras-dfka's `AmalgamGAN` and `DualGenerator` steps against what a PyTorch
research script would run: the same layers in `torch.nn` (NCHW), the same
losses, the same Adam updates, eager PyTorch (no `torch.compile` unless
asked).

    ref = Stage1Reference(gan)          # gan: a keras_dfka.AmalgamGAN
    optimizer = ref.make_optimizer()    # Adam on the generator and filters
    loss, logs = ref.train_step(z, optimizer)

    ref = Stage2Reference(dual)         # dual: a keras_dfka.DualGenerator
    optimizer = ref.make_optimizer()    # Adam on the student blocks and filters
    loss, logs = ref.train_step(z, optimizer)

The torch modules are built from the Keras models, layer by layer, with their
weights (`models.convert_chain`, `layers.Converter`): Conv2D kernels HWIO ->
OIHW, Dense kernels transposed (the rows of a Dense that feeds a Reshape are
reordered from HWC to CHW, so the torch side reshapes straight to NCHW),
BatchNormalization's gamma, beta, moving statistics and epsilon (Keras
momentum `m` is torch momentum `1 - m`), LeakyReLU slopes, nearest
`UpSampling2D`, bilinear `Resizing`, Keras's "same" padding (asymmetric for
strided convolutions: 0 before, 1 after).

Supported: the models `benchmarks/speed` builds (`teacher_zoo.small_cnn`
teachers, the group-stack generator, the default student blocks, image-like
`FeatureFilter`s), the stage-1 loss terms of `AmalgamGAN.compute_step_terms`
without label priors or `latent_targets`, and the block-wise stage-2 loss of
`DualGenerator.compute_step_loss` without fine-tuned heads. Anything else
raises a `ValueError` naming it.

Two known differences that do not touch the losses or the gradients: torch
updates a BatchNorm's moving variance with the unbiased batch variance
(Keras: the biased one), and the augmentation draws its flip and shift from
torch's generator, not Keras's (the equivalence check turns it off).

`check_stage1(gan)` and `check_stage2(dual)` (`equivalence`) compare the two
on the same weights and latent batches: every logged loss term, the
gradients (under TensorFlow) and the weights after Adam steps.

The modules: `layers` (torch layers with Keras's semantics, the weight
`Converter`), `models` (chains, filters, teachers, the generator), `losses`,
`stages` (the two steps and `KerasAdam`), `equivalence`, and for the
benchmark `workers` (what its subprocesses run), `comparison` (the rounds)
and `report`. They import torch, except `comparison`, `report` and
`speed_vs_torch`, which only orchestrate; keras-dfka itself never imports
torch. The public names of the reference are importable from this package
(`from benchmarks.torch_reference import Stage1Reference`); torch is
imported on first use.
"""

import importlib

_PUBLIC = {
    "Converter": "layers",
    "convert_chain": "models",
    "EPSILON": "losses",
    "KerasAdam": "stages",
    "Stage1Reference": "stages",
    "Stage2Reference": "stages",
    "TOLERANCES": "equivalence",
    "check_passed": "equivalence",
    "check_stage1": "equivalence",
    "check_stage2": "equivalence",
    "keras_precision": "equivalence",
}


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_PUBLIC[name]}")
    return getattr(module, name)
