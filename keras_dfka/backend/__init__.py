"""Backend dispatch: the gradient plumbing of a training step.

The models describe a step with backend-neutral methods written in
`keras.ops` (`compute_step_loss(data, training)` returning the scalar loss and
a dict of named loss terms). Each backend file adds only the gradient
plumbing, like Keras's own `keras/src/backend/<name>/trainer.py`, and
`assign_rows`, an in-place row update of a variable (for `SamplePool`).
"""

import keras

_BACKEND = keras.backend.backend()

if _BACKEND == "tensorflow":
    from keras_dfka.backend.tensorflow_trainer import TensorFlowTrainer as Trainer
    from keras_dfka.backend.tensorflow_trainer import assign_rows
elif _BACKEND == "jax":
    from keras_dfka.backend.jax_trainer import JAXTrainer as Trainer
    from keras_dfka.backend.jax_trainer import assign_rows
elif _BACKEND == "torch":
    from keras_dfka.backend.torch_trainer import TorchTrainer as Trainer
    from keras_dfka.backend.torch_trainer import assign_rows
else:
    raise ValueError(
        "keras-dfka supports the KERAS_BACKEND values 'tensorflow', 'jax' and "
        f"'torch'. Received: {_BACKEND!r}"
    )

__all__ = ["Trainer", "assign_rows"]
