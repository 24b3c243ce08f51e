"""The loss weights of `AmalgamGAN`: its terms, the named sets of weights
(`AmalgamGAN(loss_weights="paper" | "default" | "adversarial")`) and their
resolution."""

from keras_dfka.utils.validation import MAX_LOSS_WEIGHT
from keras_dfka.utils.validation import check_float

LOSS_TERMS = (
    "one_hot",
    "activation",
    "information_entropy",
    "discrete",
    "intermediate",
    "batch_norm",
    "total_variation",
)

# Named loss weights (`AmalgamGAN(loss_weights="paper" | "default")`).
LOSS_WEIGHTS = {
    # Exactly the paper's losses (Eqs. 5-11): no priors beyond it.
    "paper": {
        "one_hot": 1.0,
        "activation": 0.1,
        "information_entropy": 5.0,
        "discrete": 0.1,
        "intermediate": 1.0,
        "batch_norm": 0.0,
        "total_variation": 0.0,
    },
    # The paper's losses plus the BatchNorm-statistics prior (DeepInversion);
    # the activation term is dropped: it grows without bound and saturates
    # the images (docs/method.md). Chosen on the CelebA validation split
    # (benchmarks/README.md).
    "default": {
        "one_hot": 1.0,
        "activation": 0.0,
        "information_entropy": 1.0,
        "discrete": 0.1,
        "intermediate": 1.0,
        "batch_norm": 10.0,
        "total_variation": 0.0,
    },
    # The generator of `AdversarialAmalgamation`: the default's without the
    # intermediate-feature term (its end-to-end student never sees the
    # generator's features) and without the sparsity term (which works
    # against `latent_targets`' half-positive labels).
    "adversarial": {
        "one_hot": 1.0,
        "activation": 0.0,
        "information_entropy": 1.0,
        "discrete": 0.0,
        "intermediate": 0.0,
        "batch_norm": 10.0,
        "total_variation": 0.0,
    },
}


def resolve_loss_weights(loss_weights):
    """The full weight dict of `loss_weights`.

    Args:
        loss_weights: a name of `LOSS_WEIGHTS` (`"default"` or `"paper"`), or
            a dict of weights overriding the `"default"` ones.

    Returns:
        A dict with one finite weight in `[0, 1e6]` per term of `LOSS_TERMS`
        (`keras_dfka.utils.validation.MAX_LOSS_WEIGHT`: a larger weight overflows
        float32 to an infinite loss).
    """
    if isinstance(loss_weights, str):
        if loss_weights not in LOSS_WEIGHTS:
            raise ValueError(
                f"`loss_weights` must be one of {sorted(LOSS_WEIGHTS)} or a dict. "
                f"Received: loss_weights={loss_weights!r}"
            )
        return dict(LOSS_WEIGHTS[loss_weights])
    if not isinstance(loss_weights, dict):
        raise ValueError(
            f"`loss_weights` must be one of {sorted(LOSS_WEIGHTS)} or a dict. "
            f"Received: loss_weights={loss_weights!r}"
        )
    weights = dict(LOSS_WEIGHTS["default"])
    for key, value in loss_weights.items():
        if key not in LOSS_TERMS:
            raise ValueError(
                f"`loss_weights` has unknown term {key!r}; expected keys among "
                f"{list(LOSS_TERMS)}."
            )
        weights[key] = check_float(
            value, f"loss_weights[{key!r}]", 0.0, maximum=MAX_LOSS_WEIGHT
        )
    return weights
