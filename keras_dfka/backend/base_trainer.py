"""Backend-neutral parts of the keras-dfka trainers."""

import keras


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

    A step may have several phases (`training_phases()`), each a list of
    variables and the loss that trains them; the backends compute each
    phase's gradients for its own variables only, in order (a phase sees the
    non-trainable state the previous one left, e.g. a pool it filled), and
    apply all of them with one `self.optimizer.apply`. Every phase sees the
    trainable variables as they were at the start of the step.
    """

    def training_phases(self):
        """`[(variables, loss_function)]`; by default one phase: every
        trainable variable and `compute_step_loss`."""
        return [(self.trainable_variables, self.compute_step_loss)]

    @staticmethod
    def _merge_logs(logs, phase_logs):
        for name, value in phase_logs.items():
            if name in logs:
                raise ValueError(
                    f"Two training phases log the same name {name!r}; each "
                    "phase's logged names must be its own."
                )
            logs[name] = value

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
