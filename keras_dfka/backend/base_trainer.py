"""Backend-neutral parts of the keras-dfka trainers."""

import keras


def unpack_latent(data):
    """Returns the latent batch `z` from what `fit()` hands a step."""
    if isinstance(data, (list, tuple)):
        data = data[0]
    return data


class BaseTrainer:
    """Loss trackers shared by the backend trainers.

    Subclasses set `self.loss_names` (the names of the logged terms, `"loss"`
    first) before `compile()` and implement
    `compute_step_loss(data, training) -> (loss, {name: scalar})`.
    """

    def _create_loss_trackers(self):
        self._loss_trackers = {
            name: keras.metrics.Mean(name=name) for name in self.loss_names
        }

    @property
    def metrics(self):
        trackers = getattr(self, "_loss_trackers", None)
        return list(trackers.values()) if trackers else []

    def _update_trackers(self, logs):
        for name, tracker in self._loss_trackers.items():
            tracker.update_state(logs[name])
        return {name: tracker.result() for name, tracker in self._loss_trackers.items()}
