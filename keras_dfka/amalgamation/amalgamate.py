"""From teachers to a TargetNet in one call: `amalgamate`.

`amalgamate` is the one entry point of the data-free path: the command line,
the examples, the benchmarks and the guides all call it with an
`AmalgamationConfig` (`keras_dfka.amalgamation.config`), which holds every
default. It resolves the target labels, sets up the run's checkpoints, and
runs the schedule the config names (`keras_dfka.amalgamation.schedules`)
through one timed `fit()` helper; it returns an `AmalgamationResult`.
"""

import dataclasses
import os
import time

import keras

from keras_dfka.amalgamation.checkpoint import OffsetDataset
from keras_dfka.amalgamation.checkpoint import RunCheckpoint
from keras_dfka.amalgamation.checkpoint import run_fingerprint
from keras_dfka.amalgamation.config import AmalgamationConfig
from keras_dfka.amalgamation.schedules import SCHEDULES
from keras_dfka.callbacks.amalgamation_monitor import AmalgamationMonitor
from keras_dfka.evaluation.coverage import label_coverage
from keras_dfka.evaluation.coverage import warn_if_barely_covered
from keras_dfka.models.label_plan import LabelPlan
from keras_dfka.models.target_net import TargetNet
from keras_dfka.trainers.amalgam_gan import AmalgamGAN
from keras_dfka.trainers.amalgam_gan import find_softmax_task
from keras_dfka.trainers.dual_generator import DualGenerator
from keras_dfka.utils.non_finite import raise_if_non_finite_weights

# With a `logdir`: TensorBoard curves every this many steps, image grids
# every tenth of them.
LOG_EVERY_N_STEPS = 50
# The generated images on which the result measures each label's coverage.
COVERAGE_SAMPLES = 2048


@dataclasses.dataclass
class AmalgamationResult:
    """What `amalgamate` returns.

    Attributes:
        gan: the trained `AmalgamGAN`.
        dual: the trained `DualGenerator`.
        target_net: the `TargetNet` regrouped from `dual`.
        timings: `{"amalgam_gan_s": ..., "dual_generator_s": ..., ...}`, wall
            seconds of each part (`balanced_latents_s`, `hard_latents_s`
            when they ran).
        histories: `{stage: [History, ...]}`, one `History` per `fit()`
            call, the stages `amalgam_gan` and `dual_generator`, or
            `adversarial_amalgamation` for that schedule.
        steps: `{stage: training steps}`, with the stages of `histories`.
        config: the `AmalgamationConfig` that ran.
        coverage: `{target label: {"positive": share, "boundary": share}}`
            on `COVERAGE_SAMPLES` images of the trained generator: the
            share its teacher calls positive and puts near the decision
            boundary (`keras_dfka.evaluation.label_coverage`).
        coverage_warnings: the messages for barely covered labels (also
            issued as `UserWarning`s): a label whose teacher sees almost no
            positive (or negative) image cannot be learned.
    """

    gan: AmalgamGAN
    dual: DualGenerator
    target_net: TargetNet
    timings: dict
    histories: dict
    steps: dict
    config: AmalgamationConfig
    coverage: dict = dataclasses.field(default_factory=dict)
    coverage_warnings: list = dataclasses.field(default_factory=list)

    def steps_per_second(self):
        """`{stage: training steps per wall second}`."""
        return {
            stage: count / self.timings[f"{stage}_s"]
            for stage, count in self.steps.items()
        }


def amalgamate(teachers, target_labels, config=None, callbacks=None, logdir=None):
    """Amalgamates teachers into a TargetNet for `target_labels`, data-free.

    Stage 1 trains an `AmalgamGAN` against the frozen teachers, stage 2 a
    `DualGenerator` on its samples, in the order `config.schedule` says;
    `TargetNet.from_dual` regroups the student. No data is used. The run
    starts with `keras.utils.set_random_seed(config.seed)`, so the same
    teachers, labels and config give the same TargetNet.

    Args:
        teachers: list of `keras_dfka.Teacher`.
        target_labels: list of label names (see `DualGenerator`).
        config: an `AmalgamationConfig` (default: `AmalgamationConfig()`).
        callbacks: optional list of Keras callbacks for every `fit()` call.
        logdir: optional directory for TensorBoard logs, one subdirectory
            per stage (`amalgam_gan/`, `dual_generator/`, or
            `adversarial_amalgamation/`): a
            `keras_dfka.callbacks.AmalgamationMonitor` writes the loss
            terms, the teachers' positive rates, each target label's
            coverage and the student's agreement every `LOG_EVERY_N_STEPS`
            steps, and a grid of generated images every tenth time.

    Returns:
        An `AmalgamationResult`.

    Example:

    ```python
    result = keras_dfka.amalgamate(
        [hair, face], ["Smiling", "Blond_Hair"],
        keras_dfka.AmalgamationConfig(gan_steps=1500, dual_steps=1500),
    )
    result.target_net.save("target.keras")
    ```
    """
    config = AmalgamationConfig() if config is None else config
    if not isinstance(config, AmalgamationConfig):
        raise ValueError(
            "`config` must be a `keras_dfka.AmalgamationConfig` or None. "
            f"Received: {type(config).__name__}"
        )
    callbacks = list(callbacks or [])
    keras.utils.set_random_seed(config.seed)
    plan = LabelPlan.resolve(teachers, target_labels)
    if config.uses_balanced_latents:
        find_softmax_task(teachers, config.balance_task)  # Fails before training.
    checkpoint = None
    if config.checkpoint_dir is not None:
        checkpoint = RunCheckpoint(
            config.checkpoint_dir,
            config.checkpoint_steps,
            run_fingerprint(config, teachers, plan.target_labels),
            config.resume,
        )
    timings = {}
    histories = {}
    steps = {}
    segments = []
    monitors = {}
    planned = {}  # stage -> steps of its earlier segments, trained or skipped

    def fit(model, data, stage, epoch=0, verbose=config.verbose):
        """One timed `fit()` epoch (number `epoch`) of `stage`, over the
        batches of `data` in order; the times and histories of a stage's
        calls add up. With a checkpoint: a segment of the run, skipped (its
        saved end state loaded) or continued where a resumed run left it."""
        segment = len(segments)
        segments.append(stage)
        before = planned.get(stage, 0)
        planned[stage] = before + len(data)
        offset = 0
        if checkpoint is not None:
            done = checkpoint.restore(segment, model)
            if done == "finished":
                return
            offset = done or 0
        stage_callbacks = list(callbacks)
        if logdir is not None:
            if stage not in monitors:
                monitors[stage] = AmalgamationMonitor(
                    os.path.join(logdir, stage),
                    every_n_steps=LOG_EVERY_N_STEPS,
                    save_png=False,
                    seed=config.seed,
                )
            # Steps of the stage's earlier segments (and a resumed segment's
            # steps done before) count too, so curves continue.
            monitors[stage].global_step = before + offset
            stage_callbacks.append(monitors[stage])
        if checkpoint is not None:
            stage_callbacks.append(checkpoint.callback(segment, offset, len(data)))
        batches = OffsetDataset(data, offset) if offset else data
        t0 = time.time()
        history = model.fit(
            batches,
            initial_epoch=epoch,
            epochs=epoch + 1,
            shuffle=False,
            verbose=verbose,
            callbacks=stage_callbacks,
        )
        key = f"{stage}_s"
        timings[key] = timings.get(key, 0.0) + time.time() - t0
        histories.setdefault(stage, []).append(history)
        steps[stage] = steps.get(stage, 0) + len(batches)
        if checkpoint is not None:
            checkpoint.finish(segment, model)

    gan, dual = SCHEDULES[config.schedule](teachers, plan, config, fit, timings)
    target_net = TargetNet.from_dual(dual)
    # Always, whatever `check_finite` says: never return non-finite weights.
    raise_if_non_finite_weights(target_net, "The amalgamated TargetNet")
    coverage = label_coverage(
        dual.teachers, plan, gan.generate(COVERAGE_SAMPLES, seed=config.seed)
    )
    return AmalgamationResult(
        gan=gan,
        dual=dual,
        target_net=target_net,
        timings=timings,
        histories=histories,
        steps=steps,
        config=config,
        coverage=coverage,
        coverage_warnings=warn_if_barely_covered(coverage, plan),
    )
