"""Resume: a run's whole state saved every N steps, and continued from there.

`keras_dfka.amalgamate` trains in segments: each `fit()` call of a schedule
(stage 1, stage 2, a turn of the alternating schedule) is one segment, over
a dataset of latent batches that is a pure function of its seed and batch
index. With `AmalgamationConfig(checkpoint_dir=...)` a `RunCheckpoint`
saves, every `checkpoint_steps` steps, the training model's weights file
(`save_weights`: every weight, the optimizer's iterations and moments, the
sample pool, and the trainers' seed-generator states) with the segment and
step reached, and at the end of each segment the model as that segment left
it. A run started again with `resume=True` replays the schedule: finished
segments load their saved end state instead of training, the interrupted
one loads its last step checkpoint and trains on the batches it had not yet
seen (`OffsetDataset`), so on the same backend it ends bitwise equal to a
run that was never stopped.

Files in the checkpoint directory: `checkpoint.json` (what was reached and
the fingerprint of the run: its configuration, target labels and teachers),
`segment_<k>.weights.h5` (segment k finished) and
`segment_<k>_step_<n>.weights.h5` (segment k after n of its steps; only the
latest is kept). Each file is written under a temporary name and renamed,
the JSON last, so a run killed while saving leaves the previous checkpoint
intact.
"""

import dataclasses
import hashlib
import json
import os

import keras
import numpy as np

from keras_dfka.callbacks.step_checkpoint import StepCheckpoint

STATE_FILE = "checkpoint.json"
FORMAT_VERSION = 1
# Fields that do not change what a run computes.
_UNCHECKED_FIELDS = ("verbose", "resume", "checkpoint_dir", "checkpoint_steps")
# Fields added since checkpoints existed: left out of the fingerprint at
# their default (the config's), so that a checkpoint written before them
# still resumes.
_LATER_FIELDS = (
    "max_feature_width",
    "student_learning_rate_decay",
    "student_mixup",
    "min_hidden_width",
)


def has_checkpoint(directory):
    """Whether `directory` holds a run's checkpoint (its `checkpoint.json`)."""
    return os.path.exists(os.path.join(str(directory), STATE_FILE))


class OffsetDataset(keras.utils.PyDataset):
    """Batches `offset, offset + 1, ...` of a `PyDataset`: the rest of a
    segment after a restart.

    Args:
        data: a `keras.utils.PyDataset` of known length whose batches are a
            function of their index (and epoch), such as
            `keras_dfka.datasets.LatentNoise`.
        offset: int in `[0, len(data))`, the batches already trained on.
    """

    def __init__(self, data, offset):
        super().__init__()
        if not 0 <= offset < len(data):
            raise ValueError(
                f"`offset` must be in [0, {len(data)}) for a dataset of "
                f"{len(data)} batches. Received: offset={offset}"
            )
        self.data = data
        self.offset = int(offset)

    def __len__(self):
        return len(self.data) - self.offset

    def __getitem__(self, index):
        if index < 0 or index >= len(self):
            raise IndexError(f"Batch index {index} out of range [0, {len(self)}).")
        return self.data[self.offset + index]

    def on_epoch_begin(self):
        self.data.on_epoch_begin()

    def on_epoch_end(self):
        self.data.on_epoch_end()

    def set_epoch(self, epoch):
        self.data.set_epoch(epoch)


def run_fingerprint(config, teachers, target_labels):
    """What a checkpoint must match to be resumed: the configuration (but
    for verbosity and the checkpoint fields), the target labels, and each
    teacher's name, labels and a digest of its weights."""
    values = {k: v for k, v in config.to_dict().items() if k not in _UNCHECKED_FIELDS}
    defaults = {field.name: field.default for field in dataclasses.fields(config)}
    for name in _LATER_FIELDS:
        if values.get(name) == defaults[name]:
            values.pop(name)
    digests = []
    for teacher in teachers:
        digest = hashlib.sha256()
        for weight in teacher.weights:
            digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)))
        digests.append(
            {
                "name": teacher.name,
                "labels": [list(task.labels) for task in teacher.tasks],
                "weights_sha256": digest.hexdigest(),
            }
        )
    fingerprint = {
        "config": values,
        "target_labels": list(target_labels),
        "teachers": digests,
    }
    return json.loads(json.dumps(fingerprint))  # As read back from the file.


def _differences(saved, current, prefix=""):
    """The keys (dotted) whose values differ between two JSON-like dicts."""
    if isinstance(saved, dict) and isinstance(current, dict):
        found = []
        for key in sorted(set(saved) | set(current)):
            found += _differences(saved.get(key), current.get(key), f"{prefix}{key}.")
        return found
    return [] if saved == current else [prefix.rstrip(".")]


class RunCheckpoint:
    """The checkpoint directory of one `amalgamate` run.

    Args:
        directory: the directory (created if missing).
        every: int >= 1, save every this many steps of a segment.
        fingerprint: `run_fingerprint(...)` of this run.
        resume: bool. `False` refuses a directory that already holds a
            checkpoint (nothing is overwritten without being asked); `True`
            continues from it, after checking that it was written by the
            same run (the same fingerprint), or starts afresh if there is
            none.
    """

    def __init__(self, directory, every, fingerprint, resume):
        self.directory = str(directory)
        self.every = int(every)
        self.fingerprint = fingerprint
        self.segment = 0  # The first segment not finished.
        self.step = 0  # Steps of it saved.
        self.step_file = None
        path = os.path.join(self.directory, STATE_FILE)
        if has_checkpoint(self.directory):
            if not resume:
                raise ValueError(
                    f"`checkpoint_dir` {self.directory!r} already holds a "
                    "checkpoint of a run. Pass resume=True (--resume) to "
                    "continue it, or choose another directory. Received: "
                    "resume=False"
                )
            self._load(path)
        os.makedirs(self.directory, exist_ok=True)
        self.resumed_segment = self.segment
        self.resumed_step = self.step

    def _load(self, path):
        try:
            with open(path) as f:
                state = json.load(f)
            version = state["format"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"The checkpoint {path!r} cannot be read ({error}); remove "
                "the directory or choose another `checkpoint_dir`."
            ) from None
        if version != FORMAT_VERSION:
            raise ValueError(
                f"The checkpoint {path!r} has format {version}; this version "
                f"of keras-dfka reads format {FORMAT_VERSION}."
            )
        changed = _differences(state["fingerprint"], self.fingerprint)
        if changed:
            raise ValueError(
                f"The checkpoint in {self.directory!r} is of a different run: "
                f"{', '.join(changed)} changed. Resume with the same teachers, "
                "target labels and configuration, or choose another "
                "`checkpoint_dir`."
            )
        self.segment, self.step = state["segment"], state["step"]
        self.step_file = state["step_file"]
        for name in [self.step_file] + [
            self.segment_file(k) for k in range(self.segment)
        ]:
            if name is not None and not os.path.exists(self._path(name)):
                raise ValueError(
                    f"The checkpoint in {self.directory!r} is incomplete: "
                    f"{name} is missing."
                )

    # ---------------------------------------------------------------- files
    def _path(self, name):
        return os.path.join(self.directory, name)

    @staticmethod
    def segment_file(segment):
        return f"segment_{segment}.weights.h5"

    def _save_model(self, model, name):
        temporary = self._path(f"tmp_{name}")
        model.save_weights(temporary, overwrite=True)
        os.replace(temporary, self._path(name))

    def _write_state(self):
        state = {
            "format": FORMAT_VERSION,
            "segment": self.segment,
            "step": self.step,
            "step_file": self.step_file,
            "fingerprint": self.fingerprint,
        }
        temporary = self._path(f"tmp_{STATE_FILE}")
        with open(temporary, "w") as f:
            json.dump(state, f, indent=1)
        os.replace(temporary, self._path(STATE_FILE))

    def _replace_step_file(self, name):
        old, self.step_file = self.step_file, name
        self._write_state()
        if old is not None and old != name and os.path.exists(self._path(old)):
            os.remove(self._path(old))

    # ------------------------------------------------------------- training
    def restore(self, segment, model):
        """Loads `segment`'s saved state into `model`.

        Returns:
            `None` if the segment must train from its start, `"finished"` if
            it finished (its end state is loaded), else the number of its
            steps already done (its last step checkpoint is loaded).
        """
        if segment < self.resumed_segment:
            model.load_weights(self._path(self.segment_file(segment)))
            return "finished"
        if segment == self.resumed_segment and self.resumed_step:
            model.load_weights(self._path(self.step_file))
            return self.resumed_step
        return None

    def save_step(self, segment, step, model):
        """Saves `model` after `step` steps of `segment`."""
        name = f"segment_{segment}_step_{step}.weights.h5"
        self._save_model(model, name)
        self.segment, self.step = segment, step
        self._replace_step_file(name)

    def finish(self, segment, model):
        """Saves `model` as `segment` left it; the next starts at step 0."""
        self._save_model(model, self.segment_file(segment))
        self.segment, self.step = segment + 1, 0
        self._replace_step_file(None)

    def callback(self, segment, offset, total):
        """A callback saving every `every` steps of `segment` (whose first
        `offset` of `total` steps were done before this `fit()`)."""
        return StepCheckpoint(self, segment, offset, total)
