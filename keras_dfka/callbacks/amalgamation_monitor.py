"""`AmalgamationMonitor`: TensorBoard logs of a data-free amalgamation run."""

import io
import math
import os

import keras
import numpy as np
from keras import ops

from keras_dfka.datasets.latent_noise import draw_latents
from keras_dfka.evaluation.coverage import label_coverage
from keras_dfka.trainers.amalgam_gan import AmalgamGAN
from keras_dfka.trainers.dual_generator import DualGenerator
from keras_dfka.utils.model_utils import map_batches
from keras_dfka.utils.tensorboard_events import EventFileWriter
from keras_dfka.utils.tensorboard_events import histogram_value
from keras_dfka.utils.tensorboard_events import image_value
from keras_dfka.utils.tensorboard_events import scalar_value
from keras_dfka.utils.validation import check_bool
from keras_dfka.utils.validation import check_int
from keras_dfka.utils.visualization import image_grid
from keras_dfka.utils.visualization import save_image_grid

SAMPLES_FILENAME = "samples_epoch_{epoch:04d}.png"
STEP_SAMPLES_FILENAME = "samples_step_{step:06d}.png"
# With `every_n_steps`: a samples grid every this many logged steps, unless
# `images_every_n_steps` says otherwise.
LOGS_PER_GRID = 10
GRID_COLUMNS = 8


def _teacher_label_tags(teacher):
    """`(task index, label index, tag name)` for each of a teacher's labels.

    The tag name is the label's name, or `task/label` when the teacher has the
    same label name in several tasks.
    """
    names = teacher.label_names
    items = []
    for t, task in enumerate(teacher.tasks):
        for k, label in enumerate(task.labels):
            tag = label if names.count(label) == 1 else f"{task.name}/{label}"
            items.append((t, k, tag))
    return items


def teacher_probabilities(teacher, images, batch_size=64):
    """A teacher's per-task probabilities on `images`, as numpy arrays."""
    return map_batches(lambda x: teacher.image_pass(x)[0], images, batch_size)


def positive_rates_and_confidences(teacher, probabilities):
    """Per-label positive rates and per-prediction confidences of a teacher.

    A sigmoid label is positive when `p >= 0.5`, with confidence
    `max(p, 1 - p)`; a softmax class is positive when it is the arg-max, and
    a softmax task's confidence is its largest probability.

    Returns:
        `({tag name: rate}, confidences)`: a dict in the teacher's label order
        and a flat numpy array of confidences in `[0, 1]`.
    """
    decisions, confidences = [], []
    for task, p in zip(teacher.tasks, probabilities):
        if task.activation == "softmax":
            decisions.append(np.eye(p.shape[-1])[np.argmax(p, axis=-1)])
            confidences.append(np.max(p, axis=-1))
        else:
            decisions.append((p >= 0.5).astype("float64"))
            confidences.append(np.maximum(p, 1.0 - p).ravel())
    rates = {
        tag: float(np.mean(decisions[t][:, k]))
        for t, k, tag in _teacher_label_tags(teacher)
    }
    return rates, np.concatenate(confidences)


@keras.saving.register_keras_serializable(package="keras_dfka")
class AmalgamationMonitor(keras.callbacks.Callback):
    """Logs what a data-free amalgamation run can see, for TensorBoard.

    Without data, the usual validation curves do not exist. At the end of
    every `every_n_epochs`-th epoch this callback writes to `log_dir` (one
    TensorBoard event file per `fit()`, readable with
    `tensorboard --logdir=log_dir`):

    - `samples`: an image grid of `num_samples` generated images from a fixed
      latent batch (drawn once from `N(0, 1)` with `seed`), also saved as
      `log_dir/samples_epoch_{epoch:04d}.png`;
    - `positive_rate/<teacher>/<label>`: the fraction of generated images each
      teacher tags with each label (sigmoid: `p >= 0.5`; softmax: arg-max),
      and `declared_rate/<label>` for the rates declared in
      `declared_positive_rates` or, by default, in the teachers'
      `label_priors` (e.g. the rates published with the teachers), to spot
      labels the generator never or always produces;
    - `confidence/<teacher>`: a histogram of the teacher's confidences on the
      generated images (`max(p, 1 - p)` per sigmoid label, the largest
      probability per softmax task);
    - `loss/<name>`: every entry of the epoch's `logs` (the loss terms);
    - with a `DualGenerator` (the model being fit, `dual`, or the student of
      an `AdversarialAmalgamation` being fit):
      `coverage/<target label>/positive` and `.../boundary`, the share of
      the generated images its teacher calls positive and puts near the
      decision boundary (`keras_dfka.evaluation.label_coverage`: a label
      with almost no positive or negative images cannot be learned), and
      `agreement/mean_absolute_error` and `agreement/label_agreement` of
      `dual.agreement(num_samples, seed=seed + 1)`, the student's agreement
      with the teachers on held-out generated images. The mean absolute
      error is also put into the epoch's `logs` as `agreement_mae`, a
      data-free signal for `keras.callbacks.EarlyStopping(
      monitor="agreement_mae")` or `ModelCheckpoint(monitor="agreement_mae")`.
      Keras calls callbacks in list order, so the monitor must come **before**
      those callbacks in `callbacks=[...]`. With `every_n_epochs > 1` the key
      is only present on logged epochs (EarlyStopping warns on the others).

    Steps mode: with `every_n_steps`, the same is written every n-th
    training step instead (curves within one long epoch, as the default
    schedule's two `fit()` calls are), with the samples grid only every
    `images_every_n_steps` steps (default: every 10th log) and saved as
    `log_dir/samples_step_{step:06d}.png`; the step of a summary is then the
    training step, counted over every `fit()` the monitor serves.

    Attached to `AmalgamGAN.fit()`, the GAN is the model being fit; attached
    to `DualGenerator.fit()`, the dual is, and the GAN is `dual.amalgam_gan`;
    attached to `AdversarialAmalgamation.fit()`, its GAN and student are.
    `amalgam_gan` and `dual` override that. The summaries are written with
    `tensorboard`'s protocol buffers and a pure-Python writer, so no
    TensorFlow op runs: it works the same under the JAX backend.

    The step of every summary (and the `epoch` of the PNG names) is the
    1-based epoch number; when one monitor serves several `fit()` calls (for
    example `dual.fit_sequential(..., callbacks=[monitor])`), each call
    continues after the last epoch of the previous one. The callback never
    overwrites a PNG it did not write: if one of the PNGs a `fit()` will
    write already exists, `on_train_begin` raises `FileExistsError` before
    any training (use a fresh `log_dir` per run and per stage).

    Args:
        log_dir: str or path, the directory for the event files and PNGs.
        amalgam_gan: optional `keras_dfka.AmalgamGAN` (default: the model
            being fit, or `dual.amalgam_gan`).
        dual: optional `keras_dfka.DualGenerator` (default: the model being
            fit, if it is one).
        num_samples: int > 0, the number of generated images per epoch (for
            the grid, the rates and the histograms) and of the held-out images
            for the agreement.
        every_n_epochs: int > 0, log at the end of every n-th epoch.
        declared_positive_rates: optional dict `{label name: rate in [0, 1]}`;
            names are teacher label names (or `task/label`). Default: the
            teachers' `label_priors`, where declared.
        seed: int, the seed of the fixed latent batch; the agreement uses
            `seed + 1`.
        every_n_steps: None (log per epoch) or int > 0: log every n-th
            training step instead (steps mode).
        images_every_n_steps: with `every_n_steps`, the steps between
            samples grids (None: `10 * every_n_steps`).
        save_png: bool, whether each grid is also saved as a PNG file in
            `log_dir` (it is always in the event file).

    Example:

    ```python
    monitor = keras_dfka.callbacks.AmalgamationMonitor(
        "logs/dual", declared_positive_rates={"Smiling": 0.48})
    dual.fit(
        keras_dfka.datasets.LatentNoise(gan.latent_dim, 64, steps=100),
        epochs=10,
        callbacks=[  # the monitor first: it adds `agreement_mae` to the logs
            monitor,
            keras.callbacks.EarlyStopping(monitor="agreement_mae", patience=2),
        ],
    )
    # tensorboard --logdir=logs
    ```
    """

    def __init__(
        self,
        log_dir,
        amalgam_gan=None,
        dual=None,
        num_samples=64,
        every_n_epochs=1,
        declared_positive_rates=None,
        seed=0,
        every_n_steps=None,
        images_every_n_steps=None,
        save_png=True,
    ):
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
            raise ValueError(
                "`log_dir` must be a non-empty path (str or os.PathLike). "
                f"Received: log_dir={log_dir!r}"
            )
        if amalgam_gan is not None and not isinstance(amalgam_gan, AmalgamGAN):
            raise ValueError(
                "`amalgam_gan` must be a `keras_dfka.AmalgamGAN` or None. "
                f"Received: {type(amalgam_gan).__name__}"
            )
        if dual is not None and not isinstance(dual, DualGenerator):
            raise ValueError(
                "`dual` must be a `keras_dfka.DualGenerator` or None. "
                f"Received: {type(dual).__name__}"
            )
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"`seed` must be an integer. Received: seed={seed!r}")
        self.log_dir = os.fspath(log_dir)
        self.amalgam_gan = amalgam_gan
        self.dual = dual
        self.num_samples = check_int(num_samples, "num_samples", 1)
        self.every_n_epochs = check_int(every_n_epochs, "every_n_epochs", 1)
        self.every_n_steps = every_n_steps
        self.images_every_n_steps = images_every_n_steps
        if every_n_steps is not None:
            self.every_n_steps = check_int(every_n_steps, "every_n_steps", 1)
            if images_every_n_steps is None:
                self.images_every_n_steps = LOGS_PER_GRID * self.every_n_steps
            else:
                self.images_every_n_steps = check_int(
                    images_every_n_steps, "images_every_n_steps", 1
                )
        elif images_every_n_steps is not None:
            raise ValueError(
                "`images_every_n_steps` needs `every_n_steps` (steps mode). "
                f"Received: images_every_n_steps={images_every_n_steps!r}, "
                "every_n_steps=None"
            )
        self.save_png = check_bool(save_png, "save_png")
        self._global_step = 0
        self.declared_positive_rates = self._check_rates(declared_positive_rates)
        self.seed = int(seed)
        self._writer = None
        self._gan = None
        self._dual = None
        self._latent = None
        self._last_step = 0
        self._step_offset = 0
        self._written_paths = set()

    @staticmethod
    def _check_rates(rates):
        if rates is None:
            return {}
        if not isinstance(rates, dict):
            raise ValueError(
                "`declared_positive_rates` must be a dict {label name: rate}. "
                f"Received: {rates!r}"
            )
        checked = {}
        for label, rate in rates.items():
            try:
                value = float(rate)
            except (TypeError, ValueError):
                value = float("nan")
            if not isinstance(label, str) or not 0.0 <= value <= 1.0:
                raise ValueError(
                    "`declared_positive_rates` must map label names (str) to "
                    f"rates in [0, 1]. Received: {label!r}: {rate!r}"
                )
            checked[label] = value
        return checked

    # ------------------------------------------------------------- helpers
    def _resolve_models(self):
        model = getattr(self, "_model", None)
        dual = self.dual
        if dual is None and isinstance(model, DualGenerator):
            dual = model
        if dual is None and isinstance(
            getattr(model, "dual_generator", None), DualGenerator
        ):
            dual = model.dual_generator  # AdversarialAmalgamation
        gan = self.amalgam_gan
        if gan is None and dual is not None:
            gan = dual.amalgam_gan
        if gan is None and isinstance(model, AmalgamGAN):
            gan = model
        if gan is None:
            raise ValueError(
                "AmalgamationMonitor needs an `AmalgamGAN`: attach it to "
                "`AmalgamGAN.fit()` or `DualGenerator.fit()`, or pass "
                "`amalgam_gan=` (or `dual=`). Received model of type "
                f"{type(model).__name__}."
            )
        return gan, dual

    def _declared_rates(self, gan):
        """The user's declared rates, else the teachers' `label_priors`."""
        if self.declared_positive_rates:
            return dict(self.declared_positive_rates)
        rates = {}
        for teacher in gan.teachers:
            rates.update(getattr(teacher, "label_priors", None) or {})
        return rates

    def _check_declared_labels(self, gan):
        known = set()
        for teacher in gan.teachers:
            for task in teacher.tasks:
                known.update(task.labels)
                known.update(f"{task.name}/{label}" for label in task.labels)
        unknown = sorted(set(self.declared_positive_rates) - known)
        if unknown:
            plain = sorted(label for label in known if "/" not in label)
            raise ValueError(
                f"`declared_positive_rates` names unknown labels {unknown}; "
                f"the teachers' labels are {plain}"
            )

    def _logged(self, step):
        return step % self.every_n_epochs == 0

    @property
    def global_step(self):
        """With `every_n_steps`: the training steps seen so far (the step of
        the next log is counted from it). Settable, e.g. to continue the
        curves of a resumed run."""
        return self._global_step

    @global_step.setter
    def global_step(self, value):
        self._global_step = check_int(value, "global_step", 0)

    def samples_path(self, step):
        """The PNG path of the samples grid of (1-based) epoch `step`, or of
        training step `step` with `every_n_steps`."""
        if self.every_n_steps is None:
            return os.path.join(self.log_dir, SAMPLES_FILENAME.format(epoch=int(step)))
        return os.path.join(self.log_dir, STEP_SAMPLES_FILENAME.format(step=int(step)))

    def _check_not_existing(self, path):
        if path not in self._written_paths and os.path.exists(path):
            raise FileExistsError(
                f"AmalgamationMonitor does not overwrite files it did not write: "
                f"{path} exists. Use another `log_dir` (one per run and stage) "
                "or remove the file."
            )

    def _close_writer(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # ----------------------------------------------------------- callbacks
    def _setup(self):
        self._gan, self._dual = self._resolve_models()
        self._check_declared_labels(self._gan)
        latent_dim = self._gan.latent_dim
        if self._latent is None or self._latent.shape[1] != latent_dim:
            self._latent = draw_latents(self.num_samples, latent_dim, self.seed)
        self._close_writer()
        self._writer = EventFileWriter(self.log_dir)

    def on_train_begin(self, logs=None):
        self._step_offset = self._last_step
        params = self.params or {}
        epochs = int(params.get("epochs") or 0)
        if self.every_n_steps is None:
            planned = range(self._step_offset + 1, self._step_offset + epochs + 1)
            planned = [step for step in planned if self._logged(step)]
        else:
            steps = int(params.get("steps") or 0) * epochs
            first = self._global_step + 1
            planned = range(first, first + steps)
            planned = [s for s in planned if s % self.images_every_n_steps == 0]
        if self.save_png:
            for step in planned:
                self._check_not_existing(self.samples_path(step))
        self._setup()

    def on_epoch_end(self, epoch, logs=None):
        step = self._step_offset + int(epoch) + 1
        self._last_step = step
        if self.every_n_steps is not None or not self._logged(step):
            return
        self._log(step, logs if logs is not None else {}, self.samples_path(step))

    def on_train_batch_end(self, batch, logs=None):
        if self.every_n_steps is None:
            return
        self._global_step += 1
        step = self._global_step
        if step % self.every_n_steps == 0:
            # Under JAX, fit() holds the variables' values outside the model
            # within an epoch; Keras's JAX trainer lets a callback sync them.
            sync = getattr(self.model, "jax_state_sync", None)
            if callable(sync):
                sync()
            path = None
            if step % self.images_every_n_steps == 0:
                path = self.samples_path(step)
            self._log(step, dict(logs or {}), path)

    def _log(self, step, logs, samples_path):
        """Writes one event at `step`: `logs`' scalars, the teachers' rates,
        the target labels' coverage, the agreement, and (with a
        `samples_path`) the samples grid."""
        if self._writer is None:  # Called outside fit(), or after on_train_end.
            self._setup()
        values = []
        for name, value in list(logs.items()):
            try:
                value = float(ops.convert_to_numpy(value))
            except (TypeError, ValueError):
                continue
            values.append(scalar_value(f"loss/{name}", value))

        gan = self._gan
        images = gan.generate(z=self._latent, batch_size=64)
        if samples_path is not None:
            values.append(self._samples_value(images, samples_path))

        for teacher in gan.teachers:
            probabilities = teacher_probabilities(teacher, images)
            rates, confidences = positive_rates_and_confidences(teacher, probabilities)
            for tag, rate in rates.items():
                values.append(scalar_value(f"positive_rate/{teacher.name}/{tag}", rate))
            values.append(histogram_value(f"confidence/{teacher.name}", confidences))
        for label, rate in self._declared_rates(gan).items():
            values.append(scalar_value(f"declared_rate/{label}", rate))

        if self._dual is not None:
            coverage = label_coverage(
                self._dual.teachers, self._dual.label_plan, images
            )
            for label, shares in coverage.items():
                for side, share in shares.items():
                    values.append(scalar_value(f"coverage/{label}/{side}", share))
            agreement = self._dual.agreement(self.num_samples, seed=self.seed + 1)
            for name in ("mean_absolute_error", "label_agreement"):
                if math.isfinite(agreement[name]):
                    values.append(scalar_value(f"agreement/{name}", agreement[name]))
            logs["agreement_mae"] = agreement["mean_absolute_error"]

        self._writer.write(step, values)
        self._writer.flush()

    def _samples_value(self, images, path):
        """The image summary value of the grid of `images`, also saved as
        the PNG `path` (with `save_png`)."""
        from PIL import Image

        grid = image_grid(images, columns=GRID_COLUMNS)
        height, width, channels = grid.shape
        if self.save_png:
            self._check_not_existing(path)
            save_image_grid(
                images,
                path,
                columns=GRID_COLUMNS,
                overwrite=path in self._written_paths,
            )
            self._written_paths.add(path)
            with open(path, "rb") as f:
                png = f.read()
        else:
            buffer = io.BytesIO()
            Image.fromarray(grid[..., 0] if channels == 1 else grid).save(
                buffer, format="PNG"
            )
            png = buffer.getvalue()
        return image_value("samples", png, height, width, channels)

    def on_train_end(self, logs=None):
        self._close_writer()

    # -------------------------------------------------------- serialization
    def get_config(self):
        """The constructor arguments, without the models (they are not saved)."""
        return {
            "log_dir": self.log_dir,
            "num_samples": self.num_samples,
            "every_n_epochs": self.every_n_epochs,
            "every_n_steps": self.every_n_steps,
            "images_every_n_steps": (
                None if self.every_n_steps is None else self.images_every_n_steps
            ),
            "save_png": self.save_png,
            "declared_positive_rates": dict(self.declared_positive_rates),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
