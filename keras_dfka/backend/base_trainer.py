"""Backend-neutral parts of the keras-dfka trainers."""

import keras

from keras_dfka.non_finite import with_finite_guard
from keras_dfka.validation import check_bool


def unpack_latent(data):
    """Returns the latent batch `z` from what `fit()` hands a step."""
    if isinstance(data, (list, tuple)):
        data = data[0]
    return data


class BaseTrainer:
    """Loss trackers and training phases shared by the backend trainers.

    Subclasses set `self.loss_names` (the names of the logged terms) before
    `compile()` and implement
    `compute_step_loss(data, training) -> (loss, {name: scalar})`.

    A step is a list of ordered phases (`training_phases()`), each
    `(variables, optimizer, loss_function)`: the backends compute a phase's
    loss, its gradients for its own variables only, and apply them with its
    optimizer before the next phase runs (a phase sees the variables, and the
    non-trainable state such as a pool, as the phases before it left them).
    A phase's optimizer is `self.optimizer`, or one of the optimizers of the
    `keras.optimizers.MultiOptimizer` that `self.optimizer` is, built on
    exactly that phase's variables in that order; then the MultiOptimizer's
    own iteration count goes up once per step.

    The NaN guard: `fit()` adds a `keras_dfka.callbacks.TerminateOnNonFinite`
    to the callbacks, which raises a `NonFiniteError` at the first
    non-finite logged loss (naming the model, the step and the terms), unless
    `compile(check_finite=False)`.
    """

    def _set_check_finite(self, check_finite):
        """Called by the subclasses' `compile()`."""
        self.check_finite = check_bool(check_finite, "check_finite")

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        *args,
        **kwargs,
    ):
        """`keras.Model.fit`, with the NaN guard among the callbacks unless
        the model was compiled with `check_finite=False`."""
        if getattr(self, "check_finite", True):
            callbacks = with_finite_guard(self, callbacks)
        return super().fit(
            x, y, batch_size, epochs, verbose, callbacks, *args, **kwargs
        )

    def training_phases(self):
        """`[(variables, optimizer, loss_function)]`; by default one phase:
        every trainable variable, `self.optimizer` and `compute_step_loss`."""
        return [(self.trainable_variables, self.optimizer, self.compute_step_loss)]

    @staticmethod
    def _merge_logs(logs, phase_logs):
        """Adds a phase's logged values; a phase that runs twice in a step
        logs its last run."""
        logs.update(phase_logs)

    def _create_loss_trackers(self):
        self._loss_trackers = {
            name: keras.metrics.Mean(name=name) for name in self.loss_names
        }

    @property
    def metrics(self):
        trackers = getattr(self, "_loss_trackers", None)
        return list(trackers.values()) if trackers else []

    def _update_trackers(self, logs):
        """Updates the trackers of the names in `logs` (a step that skips a
        phase does not log its terms) and returns their results."""
        trackers = {n: t for n, t in self._loss_trackers.items() if n in logs}
        for name, tracker in trackers.items():
            tracker.update_state(logs[name])
        return {name: tracker.result() for name, tracker in trackers.items()}
