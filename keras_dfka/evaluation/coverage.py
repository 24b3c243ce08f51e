"""Label coverage: how much of each target label the generated images show.

A student learns a label only from images on both sides of its teacher's
decision, and most from images near it. When the generator (or the pool of
`AdversarialAmalgamation`) holds almost no image that a teacher calls
positive for a label, or almost no negative one, the TargetNet cannot learn
that label, however long it trains: this is the first thing to look at when
one label stays near chance. `label_coverage` measures it per target label;
`coverage_warnings` names the labels that are barely covered.
"""

import warnings

import numpy as np
from keras import ops

from keras_dfka.utils.model_utils import map_batches
from keras_dfka.utils.validation import check_float
from keras_dfka.utils.validation import check_int

# A label is barely covered when fewer than this share of the images fall on
# one side of its teacher's decision.
DEFAULT_MIN_SHARE = 0.02
# "Near the decision boundary": within this distance of it, in probability.
DEFAULT_MARGIN = 0.1


def label_coverage(teachers, plan, images, margin=DEFAULT_MARGIN, batch_size=128):
    """Per target label, the share of `images` its teacher calls positive and
    the share near its decision boundary.

    A sigmoid label is positive when `p >= 0.5`, near the boundary when
    `|p - 0.5| < margin`. A softmax class is positive when it is its task's
    arg-max, near the boundary when its probability is within `margin` of
    the largest other class's (the decision between them is close).

    Args:
        teachers: the list of `keras_dfka.Teacher` the plan was resolved on.
        plan: the `keras_dfka.models.label_plan.LabelPlan` of the target
            labels (e.g. `dual.label_plan`).
        images: images `(n, height, width, channels)` in the teachers' input
            range (generated images or a pool's contents), n >= 1.
        margin: float in (0, 0.5], the half-width of the boundary band.
        batch_size: int, the batch size of the teacher calls.

    Returns:
        `{target label: {"positive": share, "boundary": share}}`, in the
        plan's order, shares in `[0, 1]`.

    Example:

    ```python
    coverage = keras_dfka.evaluation.label_coverage(
        dual.teachers, dual.label_plan, gan.generate(1024))
    coverage["Smiling"]  # {"positive": 0.31, "boundary": 0.12}
    ```
    """
    margin = check_float(margin, "margin", 0, exclusive=True, maximum=0.5)
    batch_size = check_int(batch_size, "batch_size", 1)
    images = np.asarray(images)
    if images.ndim < 2 or images.shape[0] < 1:
        raise ValueError(
            "`images` must be a non-empty batch of images. Received shape "
            f"{images.shape}"
        )

    def flags(batch):
        outputs = {}
        columns = []
        for r in plan.labels:
            if r.teacher not in outputs:
                outputs[r.teacher] = teachers[r.teacher].image_pass(batch)[0]
            p = np.asarray(ops.convert_to_numpy(outputs[r.teacher][r.task]), "float32")
            if r.activation == "softmax":
                own = p[:, r.index]
                others = np.delete(p, r.index, axis=-1)
                best_other = others.max(axis=-1) if others.shape[-1] else 0 * own
                positive = np.argmax(p, axis=-1) == r.index
                near = np.abs(own - best_other) < margin
            else:
                own = p[:, r.index]
                positive = own >= 0.5
                near = np.abs(own - 0.5) < margin
            columns += [positive, near]
        return np.stack(columns, axis=-1).astype("float32")

    shares = map_batches(flags, images, batch_size).mean(axis=0)
    return {
        name: {"positive": float(shares[2 * j]), "boundary": float(shares[2 * j + 1])}
        for j, name in enumerate(plan.target_labels)
    }


def coverage_warnings(coverage, plan=None, min_share=DEFAULT_MIN_SHARE):
    """The messages for labels that are barely covered.

    A sigmoid label is barely covered when fewer than `min_share` of the
    images are positive, or fewer than `min_share` negative; a softmax class
    when fewer than `min_share` are of that class.

    Args:
        coverage: what `label_coverage` returned.
        plan: optional `LabelPlan`, for each label's activation (without it,
            every label is treated as sigmoid).
        min_share: float in [0, 0.5).

    Returns:
        A list of messages, one per barely covered label (empty when all
        are covered).
    """
    min_share = check_float(min_share, "min_share", 0, maximum=0.5)
    activations = {}
    if plan is not None:
        activations = {r.name: r.activation for r in plan.labels}
    messages = []
    for name, shares in coverage.items():
        positive = shares["positive"]
        sides = [("positive", positive)]
        if activations.get(name, "sigmoid") == "sigmoid":
            sides.append(("negative", 1.0 - positive))
        for side, share in sides:
            if share < min_share:
                messages.append(
                    f"Target label {name!r} is barely covered: its teacher calls "
                    f"{share:.1%} of the generated images {side} (fewer than "
                    f"{min_share:.0%}), {shares['boundary']:.1%} near the "
                    "boundary, so the TargetNet sees almost no example of that "
                    "side. More steps, `latent_targets=True` (balanced label "
                    "targets), or the teacher's `label_priors` help the "
                    "generator produce them."
                )
    return messages


def warn_if_barely_covered(coverage, plan=None, min_share=DEFAULT_MIN_SHARE):
    """Issues one `UserWarning` per message of `coverage_warnings`; returns
    the messages."""
    messages = coverage_warnings(coverage, plan, min_share)
    for message in messages:
        warnings.warn(message, UserWarning, stacklevel=2)
    return messages
