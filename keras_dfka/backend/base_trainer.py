"""Backend-neutral parts of the keras-dfka trainers."""

import keras

from keras_dfka.callbacks.terminate_on_non_finite import with_finite_guard
from keras_dfka.trainers.compile_utils import DEFAULT_LEARNING_RATE
from keras_dfka.trainers.compile_utils import build_group_optimizer
from keras_dfka.trainers.compile_utils import check_group_paths
from keras_dfka.trainers.compile_utils import check_learning_rate
from keras_dfka.trainers.compile_utils import copy_optimizer
from keras_dfka.trainers.compile_utils import reject_compile_arguments
from keras_dfka.utils.validation import check_bool


def unpack_latent(data):
    """Returns the latent batch `z` from what `fit()` hands a step."""
    if isinstance(data, (list, tuple)):
        data = data[0]
    return data


class BaseTrainer:
    """`compile()`, loss trackers and training phases shared by the trainers.

    A trainer declares two things:

    - its optimizer groups (`optimizer_groups()`): which `compile()`
      argument's optimizer trains which variables. `compile()` does the
      rest once for every trainer: it refuses `loss`, `metrics` and
      `optimizer`, checks `learning_rate` and `check_finite`, resolves each
      argument (`"auto"`: Adam at `learning_rate` with `beta_1=0.5`), wraps
      the optimizers in one `keras.optimizers.MultiOptimizer` (under JAX
      only `self.optimizer`'s state is carried through `fit()`), builds it
      eagerly on the trainable variables (JAX needs the state before
      `fit()`; TF and torch fail at the end of `fit()` otherwise), records
      its arguments for `get_compile_config()` and creates one
      `keras.metrics.Mean` tracker per name of `self.loss_names`.
      Each trainer keeps its own `compile()` signature, which only passes
      its arguments on to this one.
    - its step: `compute_step_loss(data, training) -> (loss, {name:
      scalar})`, or several ordered phases (`training_phases()`).

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

    # How the error refusing `compile(loss=...)` names the trainer's losses.
    _losses_source = "its own"
    # One optimizer instance given for two groups: the second group gets an
    # unbuilt copy of it (`True`), or `compile()` refuses it (`False`).
    _copy_shared_optimizer = True
    # The arguments of the last `compile()` (None: never compiled).
    _compile_args = None

    def optimizer_groups(self):
        """`{compile() argument: selector}`: the optimizer of each argument
        and what it trains.

        The first group's optimizer trains every trainable variable no other
        group selects (its selector is `None`); another group's selector is a
        regular expression that variable paths match in full
        (`"filter_.*"`) or a list of variables. The groups' order is the
        arguments' order in `compile()`.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must define `optimizer_groups()`."
        )

    def compile(
        self,
        learning_rate=DEFAULT_LEARNING_RATE,
        jit_compile="auto",
        check_finite=True,
        **kwargs,
    ):
        """Configures training (see the class doc); `kwargs` holds the
        optimizer arguments named by `optimizer_groups()` (missing ones are
        `"auto"`) and other `keras.Model.compile` arguments."""
        groups = self.optimizer_groups()
        optimizers = {name: kwargs.pop(name, "auto") for name in groups}
        reject_compile_arguments(type(self).__name__, self._losses_source, kwargs)
        learning_rate = check_learning_rate(learning_rate)
        self.check_finite = check_bool(check_finite, "check_finite")
        self._compile_args = dict(
            optimizers,
            learning_rate=learning_rate,
            jit_compile=jit_compile,
            check_finite=check_finite,
            **kwargs,
        )
        check_group_paths(groups, self.trainable_variables)
        optimizer, self._group_optimizers = build_group_optimizer(
            groups, optimizers, learning_rate, self._copy_shared_optimizer
        )
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
        self._create_loss_trackers()
        # Build eagerly: under JAX the optimizer state must exist before fit().
        self.optimizer.build(self.trainable_variables)

    def _compile_again(self):
        """Compiles with the arguments of the last `compile()` (nothing if
        never compiled), with fresh optimizers: an optimizer instance given
        to `compile()` is replaced by an unbuilt copy (an instance is built
        for the variables it first saw; its EMA copies are matched to them
        by position), so training starts with new moments, iterations and
        EMA weights."""
        if self._compile_args is None:
            return
        arguments = dict(self._compile_args)
        for name in self.optimizer_groups():
            arguments[name] = copy_optimizer(arguments[name])
        self.compile(**arguments)

    def get_compile_config(self):
        """The arguments of the last `compile()`, serialized (optimizer
        instances and learning rate schedules by their configs), so that a
        `.keras` file restores a compiled trainer: `keras.saving.load_model`
        compiles it again and then loads its optimizer's state (iterations,
        moments) from the file."""
        arguments = getattr(self, "_compile_args", None)
        if not self.compiled or arguments is None:
            return {}
        return {
            name: keras.saving.serialize_keras_object(value)
            for name, value in arguments.items()
        }

    def compile_from_config(self, config):
        """Compiles with the arguments `get_compile_config()` saved."""
        arguments = {
            name: keras.saving.deserialize_keras_object(value)
            if isinstance(value, dict)
            else value
            for name, value in config.items()
        }
        self.compile(**arguments)

    def _saved_seed_generators(self):
        """This model's own `keras.random.SeedGenerator`s (attributes), in
        attribute order: their states are saved with its weights."""
        return [
            value
            for value in vars(self).values()
            if isinstance(value, keras.random.SeedGenerator)
        ]

    def save_own_variables(self, store):
        """Keras's own variables, then each seed generator's state (so a
        saved and restored trainer draws the same augmentations and pool
        samples as one that never stopped)."""
        super().save_own_variables(store)
        for i, generator in enumerate(self._saved_seed_generators()):
            store[f"seed_generator_{i}"] = generator.state

    def load_own_variables(self, store):
        generators = self._saved_seed_generators()
        seed_keys = {f"seed_generator_{i}" for i in range(len(generators))}
        keys = list(store.keys())
        for i, generator in enumerate(generators):
            key = f"seed_generator_{i}"
            if key in keys:  # Files saved before seed states were saved lack it.
                generator.state.assign(store[key])
        super().load_own_variables(
            {key: store[key] for key in keys if key not in seed_keys}
        )

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
        the model was compiled with `check_finite=False`.

        On several devices (JAX: `keras.distribution.DataParallel`;
        TensorFlow: a `tf.distribute` strategy), what cannot train correctly
        is refused first, before anything is sharded or traced: batches the
        devices cannot split, variables placed outside the distribution, and
        a `keras.distribution` the backend would ignore."""
        self._check_distributed_fit(x, batch_size)
        if getattr(self, "check_finite", True):
            callbacks = with_finite_guard(self, callbacks)
        return super().fit(
            x, y, batch_size, epochs, verbose, callbacks, *args, **kwargs
        )

    def _check_distributed_fit(self, x, batch_size):
        """Raises if `fit(x, batch_size=...)` cannot train as on one device.

        Here: a `keras.distribution` set under a backend whose trainers do
        not use it (only JAX's do); Keras would train on one device without
        a word. The backends add their own checks.
        """
        current = keras.distribution.distribution()
        if current is not None and keras.backend.backend() != "jax":
            raise ValueError(
                f"{type(self).__name__}.fit(): `keras.distribution` is set "
                f"({type(current).__name__}), but only the JAX backend trains "
                f"with it; the {keras.backend.backend()} backend would ignore it "
                "and train on one device. Under TensorFlow use a "
                "`tf.distribute.MirroredStrategy` instead (build the teachers "
                "and the trainer and call compile() inside `strategy.scope()`), "
                "or use KERAS_BACKEND=jax; else unset it with "
                "`keras.distribution.set_distribution(None)`."
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
