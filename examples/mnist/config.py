"""Every default of the MNIST example, in one place."""

import dataclasses

import keras_dfka

DIGITS = [str(i) for i in range(10)]


def default_amalgamation():
    """The data-free part's defaults for 28x28 digits: the `"sequential"`
    preset (which the MNIST rows of `benchmarks/README.md` use) with a
    64-wide noise."""
    return keras_dfka.AmalgamationConfig.from_preset("sequential", latent_dim=64)


@dataclasses.dataclass
class MNISTConfig:
    """The MNIST example's settings.

    Its `amalgamation`'s `seed`, `batch_size`, `learning_rate` and `verbose`
    also serve the teacher and the reference students.
    """

    data_dir: str = "../shared/data/mnist"
    teacher_digits: int = 8000  # the first N digits train the teacher
    teacher_epochs: int = 8
    student_steps: int | None = None  # None: the same as dual_steps
    generated_samples: int = 32000  # the generated student's fixed image set
    workdir: str = "workdir/mnist"
    target_labels: list = dataclasses.field(default_factory=lambda: list(DIGITS))
    amalgamation: keras_dfka.AmalgamationConfig = dataclasses.field(
        default_factory=default_amalgamation
    )
