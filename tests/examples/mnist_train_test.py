import numpy as np
import pytest

from examples.mnist import config as mnist_config
from examples.mnist import train as mnist


def test_per_class_accuracy_is_recall_of_each_true_class():
    labels = np.array([0, 0, 1, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 0, 2])
    probabilities = np.eye(3)[predicted]
    result = mnist.per_class_accuracy(probabilities, labels, num_classes=3)
    np.testing.assert_allclose(result, [0.5, 2 / 3, 1.0])


def test_per_class_accuracy_is_nan_for_a_missing_class():
    probabilities = np.eye(3)[[0, 1]]
    result = mnist.per_class_accuracy(probabilities, np.array([0, 1]), num_classes=3)
    assert result[:2] == [1.0, 1.0]
    assert np.isnan(result[2])


def test_per_class_accuracy_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"`probabilities` must have shape \(n, 10\)"):
        mnist.per_class_accuracy(np.zeros((4, 3)), np.zeros(4, int))
    with pytest.raises(ValueError, match=r"`labels` must have shape \(4,\)"):
        mnist.per_class_accuracy(np.zeros((4, 10)), np.zeros(5, int))


def test_run_rejects_a_bad_generated_sample_count(tmp_path):
    config = mnist_config.MNISTConfig(
        workdir=str(tmp_path / "work"), generated_samples=0
    )
    with pytest.raises(ValueError, match=r"`generated_samples` must be an integer"):
        mnist.run(config, splits={})
    assert not (tmp_path / "work").exists()
