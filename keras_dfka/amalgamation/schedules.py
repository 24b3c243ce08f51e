"""The schedules of `amalgamate`: in which order the two stages train.

A schedule is a function `(teachers, plan, config, fit, timings) -> (gan,
dual)`: it builds the trainers from the `AmalgamationConfig` and trains them
through `fit(model, data, stage, epoch=0, verbose=config.verbose)`, the
timed, checkpointed `fit()` call that `amalgamate` gives it (one call per
segment of the run, each over a dataset of latent batches that is a pure
function of its seed, so that a resumed run replays it); `timings` takes
the wall seconds of anything else it times. `SCHEDULES` maps the values of
`AmalgamationConfig.schedule` to them.

Adding a schedule: write `_train_<name>(teachers, plan, config, fit,
timings)` below and add it to `SCHEDULES` (the config's `schedule` field
accepts the names of `SCHEDULES`); add its options as fields of
`AmalgamationConfig` (`keras_dfka/amalgamation/config.py`), each with its
check in the config's `_validate_*` method of its concern; the command line
builds its options from the fields.
"""

import time

import numpy as np

from keras_dfka.datasets.latent_noise import LatentNoise
from keras_dfka.datasets.latent_noise import LatentSet
from keras_dfka.trainers.adversarial_amalgamation import AdversarialAmalgamation
from keras_dfka.trainers.amalgam_gan import AmalgamGAN
from keras_dfka.trainers.compile_utils import default_optimizer
from keras_dfka.trainers.dual_generator import DualGenerator


def _build_gan(teachers, config):
    gan = AmalgamGAN(teachers, **config.gan_options())
    gan.compile(
        learning_rate=config.learning_rate,
        jit_compile=config.jit_compile,
        check_finite=config.check_finite,
    )
    return gan


def _build_dual(gan, plan, config):
    dual = DualGenerator(gan, plan, **config.dual_options())
    dual.compile(
        learning_rate=config.student_learning_rate(config.dual_steps),
        jit_compile=config.jit_compile,
        check_finite=config.check_finite,
    )
    return dual


def _train_sequential(teachers, plan, config, fit, timings):
    """Stage 1 for `gan_steps`, then stage 2 for `dual_steps`.

    Stage 2 draws fresh noise, or, with balanced vectors, trains on
    `AmalgamGAN.balanced_latents` reshuffled every pass; with `hard_latents`
    the first (larger) half of its steps is on the balanced vectors and the
    second on them and the student's hardest vectors (logged as the second
    epoch of one run).
    """
    gan = _build_gan(teachers, config)
    seed, batch_size = config.seed, config.batch_size
    noise = LatentNoise(config.latent_dim, batch_size, config.gan_steps, seed=seed)
    fit(gan, noise, "amalgam_gan")
    dual = _build_dual(gan, plan, config)
    first = config.dual_steps
    if config.hard_latents is not None:
        first = -(-first // 2)
    count = config.balanced_latent_count()
    if count is None:
        latents = LatentNoise(config.latent_dim, batch_size, first, seed=seed + 1)
    else:
        t0 = time.time()
        balanced = gan.balanced_latents(count, task=config.balance_task, seed=seed + 1)
        latents = LatentSet(balanced, batch_size, steps=first, seed=seed + 1)
        timings["balanced_latents_s"] = time.time() - t0
    fit(dual, latents, "dual_generator")
    if first < config.dual_steps:
        t0 = time.time()
        hard = dual.hard_latents(config.hard_latents, seed=seed + 2)
        timings["hard_latents_s"] = time.time() - t0
        latents = LatentSet(
            np.concatenate([balanced, hard]),
            batch_size,
            steps=config.dual_steps - first,
            seed=seed + 3,
        )
        fit(dual, latents, "dual_generator", epoch=1)
    return gan, dual


def _train_alternate(teachers, plan, config, fit, timings):
    """The two stages take turns every `alternate_steps` steps.

    The DAFL-style schedule: the student learns from the generator as it
    trains. Same total budget (`gan_steps`, `dual_steps`, each spread evenly
    over the rounds). The dual generator is built before the GAN trains, so
    its filters start from the GAN's initial filters (the sequential schedule
    copies trained ones); its frozen generator copy is refreshed before each
    of its turns. The turns' `fit()` calls print nothing.
    """
    gan = _build_gan(teachers, config)
    dual = _build_dual(gan, plan, config)
    gan_total, dual_total = config.gan_steps, config.dual_steps
    rounds = max(1, -(-max(gan_total, dual_total) // config.alternate_steps))

    def share(total, r):
        """Round `r`'s steps when `total` is spread evenly over the rounds."""
        return total * (r + 1) // rounds - total * r // rounds

    def turn(model, steps, seed, stage):
        noise = LatentNoise(config.latent_dim, config.batch_size, steps, seed=seed)
        fit(model, noise, stage, verbose=0)

    timings["amalgam_gan_s"] = timings["dual_generator_s"] = 0.0
    for r in range(rounds):
        steps = share(gan_total, r)
        if steps:
            turn(gan, steps, config.seed + 2 * r, "amalgam_gan")
        steps = share(dual_total, r)
        if steps:
            dual.generator.set_weights(gan.generator.get_weights())
            turn(dual, steps, config.seed + 1 + 2 * r, "dual_generator")
    return gan, dual


def _train_adversarial(teachers, plan, config, fit, timings):
    """Generator and student in turns, with a pool (`AdversarialAmalgamation`).

    `gan_steps` steps train both (the student on pool images), then
    `dual_steps - gan_steps` steps train the student alone on the final
    pool (logged as the second epoch of one run). Timed as
    `adversarial_amalgamation_s`.
    """
    gan = AmalgamGAN(teachers, seed=config.seed, **config.gan_options())
    dual = DualGenerator(gan, plan, **config.dual_options())
    trainer = AdversarialAmalgamation(
        gan, dual, seed=config.seed, **config.options(AdversarialAmalgamation)
    )
    student_optimizer = "auto"
    if config.student_learning_rate_decay != "none":
        student_optimizer = default_optimizer(
            config.student_learning_rate(config.dual_steps * config.student_updates)
        )
    trainer.compile(
        student_optimizer=student_optimizer,
        learning_rate=config.learning_rate,
        jit_compile=config.jit_compile,
        check_finite=config.check_finite,
    )
    noise = LatentNoise(
        config.latent_dim, config.batch_size, config.gan_steps, seed=config.seed
    )
    fit(trainer, noise, "adversarial_amalgamation")
    extra = config.dual_steps - config.gan_steps
    if extra:
        trainer.set_generator_training(False)
        noise = LatentNoise(
            config.latent_dim, config.batch_size, extra, seed=config.seed + 1
        )
        fit(trainer, noise, "adversarial_amalgamation", epoch=1)
    return gan, dual


# schedule name -> trainer(teachers, plan, config, fit, timings) -> (gan, dual)
SCHEDULES = {
    "sequential": _train_sequential,
    "alternate": _train_alternate,
    "adversarial": _train_adversarial,
}
