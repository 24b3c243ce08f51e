"""Tests of the `keras-dfka` command line, in-process through `main()`."""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import BACKEND
from PIL import Image

import keras_dfka
from keras_dfka.cli import build_parser
from keras_dfka.cli import main
from keras_dfka.cli import output_paths
from keras_dfka.cli.amalgamate import build_config
from keras_dfka.cli.common import CommandError
from keras_dfka.cli.fields import option_of
from keras_dfka.cli.fields import parse_field
from keras_dfka.models.teacher_zoo import small_cnn
from keras_dfka.utils.validation import ArgumentError

IMAGE_SHAPE = (16, 16, 3)
TARGET_LABELS = ["Blond_Hair", "Smiling", "adult"]
# Labels for 6 evaluation images; every column has both classes.
LABEL_ROWS = [
    [1, 0, 1, 0],
    [0, 1, 1, 0],
    [1, 1, 0, 1],
    [0, 0, 0, 1],
    [1, 0, 1, 0],
    [0, 1, 0, 1],
]
LABEL_NAMES = ["Blond_Hair", "Smiling", "adult", "Male"]


@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    """Two tiny untrained teachers saved as .keras (one with two outputs)."""
    directory = tmp_path_factory.mktemp("teachers")
    keras.utils.set_random_seed(0)
    hair = small_cnn(
        IMAGE_SHAPE,
        [keras_dfka.LabelTask("hair", ["Black_Hair", "Blond_Hair"])],
        widths=(4, 8),
        name="hair",
    )
    face = small_cnn(
        IMAGE_SHAPE,
        [
            keras_dfka.LabelTask("expr", ["Smiling", "Male"]),
            keras_dfka.LabelTask("age", ["child", "adult"], "softmax"),
        ],
        widths=(4, 8),
        name="face",
        from_logits=True,
    )
    paths = {
        "hair": str(directory / "hair.keras"),
        "face": str(directory / "face.keras"),
    }
    hair.save(paths["hair"])
    face.save(paths["face"])
    return paths


def teacher_args(paths, face_tasks="expr:sigmoid:Smiling,Male;age:softmax:child,adult"):
    return [
        "--teacher",
        paths["hair"],
        "--blocks",
        "hair_block1,hair_block2",
        "--labels",
        "Black_Hair,Blond_Hair",
        "--teacher",
        paths["face"],
        "--blocks",
        "face_block1,face_block2",
        "--tasks",
        face_tasks,
        "--from-logits",
    ]


def amalgamate_args(paths, output, target_labels=None):
    return [
        "amalgamate",
        *teacher_args(paths),
        "--target-labels",
        target_labels or ",".join(TARGET_LABELS),
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--latent-dim",
        "8",
        "--agreement-samples",
        "16",
        "--verbose",
        "0",
        # XLA compiles cost more than 2 steps; the pipeline's tests run it.
        "--jit-compile",
        "false",
        "--output",
        str(output),
    ]


@pytest.fixture(scope="module")
def amalgamated(teachers, tmp_path_factory):
    """Runs `amalgamate` once; returns the TargetNet path."""
    output = tmp_path_factory.mktemp("out") / "target.keras"
    assert main(amalgamate_args(teachers, output)) == 0
    return str(output)


def test_amalgamate_writes_model_generator_and_summary(amalgamated, teachers):
    target_path, generator_path, summary_path = output_paths(amalgamated)
    assert generator_path.endswith("target.generator.keras")
    for path in (target_path, generator_path, summary_path):
        assert os.path.isfile(path), path
    with open(summary_path) as f:
        summary = json.load(f)
    assert summary["target_labels"] == TARGET_LABELS
    assert [t["name"] for t in summary["teachers"]] == ["hair", "face"]
    assert summary["teachers"][1]["blocks"] == ["face_block1", "face_block2"]
    assert summary["teachers"][1]["from_logits"] is True
    assert [t["blocks_proposed"] for t in summary["teachers"]] == [False, False]
    assert summary["steps"] == {"adversarial_amalgamation": 2}
    assert summary["environment"]["backend"] == keras.backend.backend()
    assert set(summary["final_losses"]) == {"adversarial_amalgamation"}
    assert "student_loss" in summary["final_losses"]["adversarial_amalgamation"]
    assert summary["parameters"]["target_net"] > 0
    assert 0.0 <= summary["agreement"]["label_agreement"] <= 1.0
    config = summary["config"]
    assert config["balance_task"] is None and summary["balanced_latents"] is None
    assert config["schedule"] == "adversarial" and config["block_wise"] is False
    assert config["fine_tune_heads"] is False
    assert (
        config
        == keras_dfka.AmalgamationConfig(
            gan_steps=2,
            dual_steps=2,
            batch_size=4,
            latent_dim=8,
            verbose=0,
            jit_compile=False,
        ).to_dict()
    )
    target = keras_dfka.TargetNet.load(target_path)
    assert isinstance(target, keras_dfka.TargetNet)
    assert target.target_labels == TARGET_LABELS


def test_cli_and_python_api_give_the_same_target_net(amalgamated, teachers):
    from_cli = keras_dfka.TargetNet.load(amalgamated)  # seed 0, the defaults

    hair = keras.saving.load_model(teachers["hair"])
    face = keras.saving.load_model(teachers["face"])
    api_teachers = [
        keras_dfka.Teacher(
            hair, ["hair_block1", "hair_block2"], labels=["Black_Hair", "Blond_Hair"]
        ),
        keras_dfka.Teacher(
            face,
            ["face_block1", "face_block2"],
            tasks=[
                keras_dfka.LabelTask("expr", ["Smiling", "Male"]),
                keras_dfka.LabelTask("age", ["child", "adult"], "softmax"),
            ],
            from_logits=True,
        ),
    ]
    config = keras_dfka.AmalgamationConfig(
        gan_steps=2,
        dual_steps=2,
        batch_size=4,
        latent_dim=8,
        verbose=0,
        jit_compile=False,
    )
    from_api = keras_dfka.amalgamate(api_teachers, TARGET_LABELS, config).target_net

    assert from_cli.target_labels == from_api.target_labels == TARGET_LABELS
    for a, b in zip(from_cli.get_weights(), from_api.get_weights()):
        np.testing.assert_array_equal(a, b)
    images = np.random.default_rng(1).random((3, *IMAGE_SHAPE), dtype="float32")
    np.testing.assert_allclose(
        from_cli.predict_labels(images), from_api.predict_labels(images), atol=1e-6
    )


def test_amalgamate_refuses_to_overwrite(amalgamated, teachers, capsys):
    paths = output_paths(amalgamated)
    mtimes = [os.stat(p).st_mtime_ns for p in paths]
    capsys.readouterr()
    assert main(amalgamate_args(teachers, amalgamated)) == 2
    err = capsys.readouterr().err
    assert "keras-dfka: error: argument --output" in err
    assert "--overwrite" in err and "Traceback" not in err
    assert [os.stat(p).st_mtime_ns for p in paths] == mtimes
    # One existing file of the three is enough to refuse.
    other = os.path.join(os.path.dirname(amalgamated), "other.keras")
    with open(output_paths(other)[2], "w") as f:
        f.write("{}")
    assert main(amalgamate_args(teachers, other)) == 2
    assert "other.json" in capsys.readouterr().err
    assert not os.path.exists(other)


# Two steps of an untrained generator may leave a class out: that warning is
# expected here.
@pytest.mark.filterwarnings("ignore:balanced_latents. no image")
def test_amalgamate_balances_a_softmax_task(teachers, tmp_path):
    output = tmp_path / "balanced.keras"
    args = amalgamate_args(teachers, output)
    args += ["--preset", "sequential", "--balance-task", "age"]
    assert main(args) == 0
    with open(output_paths(str(output))[2]) as f:
        summary = json.load(f)
    # 2 steps of batch 4: 8 distinct vectors, below the 32,000 cap.
    assert summary["config"]["balance_task"] == "age"
    assert summary["balanced_latents"] == 8
    assert summary["steps"]["dual_generator"] == 2
    assert summary["config"]["block_wise"] is True
    output = tmp_path / "balanced_n.keras"
    args += ["--balanced-latents", "3"]
    assert main(amalgamate_args(teachers, output) + args[-6:]) == 0
    with open(output_paths(str(output))[2]) as f:
        assert json.load(f)["balanced_latents"] == 3


def test_amalgamate_end_to_end_with_trainable_heads(teachers, tmp_path):
    output = tmp_path / "end_to_end.keras"
    extra = ["--preset", "sequential", "--no-block-wise", "--fine-tune-heads"]
    assert main(amalgamate_args(teachers, output) + extra) == 0
    with open(output_paths(str(output))[2]) as f:
        summary = json.load(f)
    config = summary["config"]
    assert config["block_wise"] is False and config["fine_tune_heads"] is True
    assert set(summary["final_losses"]["dual_generator"]) >= {"loss"}
    assert not any(
        name.startswith("block_") for name in summary["final_losses"]["dual_generator"]
    )
    target = keras_dfka.TargetNet.load(str(output))
    assert target.target_labels == TARGET_LABELS
    images = np.random.default_rng(0).random((2, *IMAGE_SHAPE), dtype="float32")
    probabilities = target.predict_labels(images)
    assert probabilities.shape == (2, len(TARGET_LABELS))
    assert np.all((probabilities >= 0) & (probabilities <= 1))


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--preset", "sequential", "--balance-task", "expr"],
            "argument --balance-task: `task` must be one of the teachers' "
            "softmax tasks ['age']. Received: task='expr'",
        ),
        (
            ["--preset", "sequential", "--hard-latents", "10"],
            "argument --hard-latents: `hard_latents` adds to the class-balanced",
        ),
        (
            ["--preset", "sequential", "--balance-task", "age"]
            + ["--balanced-latents", "0"],
            "--balanced-latents",
        ),
        (
            ["--balance-task", "age"],
            "argument --balance-task: Class-balanced latent vectors need",
        ),
        (["--pool-size", "0"], "argument --pool-size: `pool_size` must be"),
        (
            ["--resume"],
            "argument --resume: `resume=True` needs a `checkpoint_dir`",
        ),
        (
            ["--feature-widths", "8,0"],
            "argument --feature-widths: `feature_widths[1]` must be",
        ),
        (
            ["--loss-weights", '{"batch_norm": -1}'],
            "argument --loss-weights: `loss_weights['batch_norm']` must be",
        ),
        (["--schedule", "sideways"], "argument --schedule: `schedule` must be"),
        (
            ["--block-wise"],
            "argument --block-wise: With schedule='adversarial'",
        ),
        (["--stream-weights", "1,x"], "argument --stream-weights"),
    ],
)
def test_amalgamate_rejects_bad_balancing(teachers, tmp_path, capsys, extra, message):
    output = tmp_path / "target.keras"
    assert main(amalgamate_args(teachers, output) + extra) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(output)


def test_parse_field():
    assert parse_field("gan_steps", "12") == 12
    assert parse_field("learning_rate", "0.5") == 0.5
    assert parse_field("block_wise", "false") is False
    assert parse_field("jit_compile", "false") is False
    assert parse_field("jit_compile", "auto") == "auto"
    assert parse_field("stream_weights", "1,0") == [1.0, 0.0]
    assert parse_field("balanced_latents", "none") is None
    assert parse_field("loss_weights", "paper") == "paper"
    assert parse_field("loss_weights", '{"batch_norm": 2}') == {"batch_norm": 2}
    with pytest.raises(ValueError, match="`gan_steps` expects a value of type int"):
        parse_field("gan_steps", "many")
    with pytest.raises(ValueError, match="Unknown AmalgamationConfig field"):
        parse_field("steps", "3")


def test_config_errors_name_their_option_from_the_field():
    # The option comes from the error's `argument`, not from its text.
    assert option_of(ArgumentError("`x` is bad", "pool_size")) == "--pool-size"
    assert option_of(ArgumentError("`block_wise` ...", "dual_steps")) == (
        "--dual-steps"
    )
    assert option_of(ArgumentError("`name` must be", "name")) == "--preset"
    assert option_of(ValueError("`pool_size` must be")) == "--preset"
    args = build_parser().parse_args(
        ["amalgamate", "--teacher", "t.keras", "--target-labels", "a"]
        + ["--output", "o.keras", "--schedule", "alternate", "--balanced-latents", "8"]
    )
    with pytest.raises(CommandError, match="^argument --balanced-latents: Class"):
        build_config(args)


def test_sample_writes_png_grid(amalgamated, tmp_path, capsys):
    generator = output_paths(amalgamated)[1]
    grid = tmp_path / "grid.png"
    argv = ["sample", "--generator", generator, "--num", "10", "--columns", "5"]
    assert main(argv + ["--output", str(grid)]) == 0
    with Image.open(grid) as image:
        # 5 columns and 2 rows of 16x16 images with 1-pixel padding.
        assert image.size == (5 * 17 + 1, 2 * 17 + 1)
    assert main(argv + ["--output", str(grid)]) == 2
    assert "argument --output" in capsys.readouterr().err
    assert main(argv + ["--output", str(grid), "--overwrite", "--seed", "1"]) == 0


def write_image(path, seed):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype="uint8")).save(path)


def test_evaluate_on_image_folder_and_csv(amalgamated, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    lines = ["filename," + ",".join(LABEL_NAMES)]
    for i, row in enumerate(LABEL_ROWS):
        write_image(images / f"{i}.png", i)
        lines.append(f"{i}.png," + ",".join(str(v) for v in row))
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    report_path = tmp_path / "report.json"
    argv = ["evaluate", "--model", amalgamated, "--images", str(images)]
    argv += ["--labels-csv", str(csv_path), "--output", str(report_path)]
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "mean ROC-AUC: " in out
    for label in TARGET_LABELS:
        assert f"| {label} |" in out
    with open(report_path) as f:
        report = json.load(f)
    assert report["target_labels"] == TARGET_LABELS
    assert report["num_images"] == len(LABEL_ROWS)
    assert set(report["per_label"]) == set(TARGET_LABELS)
    assert 0.0 <= report["mean"]["roc_auc"] <= 1.0
    # No overwrite of the report; a target label missing from the CSV.
    assert main(argv) == 2
    assert "argument --output" in capsys.readouterr().err
    csv_path.write_text("filename,Blond_Hair\n0.png,1\n")
    argv[-1] = str(tmp_path / "other.json")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "argument --labels-csv" in err and "Smiling" in err


def test_evaluate_on_celeba_layout(amalgamated, tmp_path, capsys):
    data = tmp_path / "celeba"
    (data / "img_align_celeba").mkdir(parents=True)
    names = ["Male"] + [n for n in LABEL_NAMES if n != "Male"] + ["Young"]
    rows = []
    partition = []
    for i, row in enumerate(LABEL_ROWS + LABEL_ROWS[:2]):
        filename = f"{i + 1:06d}.jpg"
        write_image(data / "img_align_celeba" / filename, 10 + i)
        values = dict(zip(LABEL_NAMES, row), Young=1)
        rows.append(filename + " " + " ".join(f"{2 * values[n] - 1:2d}" for n in names))
        partition.append(f"{filename} {2 if i < 6 else 0}")
    (data / "list_attr_celeba.txt").write_text(
        f"{len(rows)}\n{' '.join(names)}\n" + "\n".join(rows) + "\n"
    )
    (data / "list_eval_partition.txt").write_text("\n".join(partition) + "\n")
    report_path = tmp_path / "celeba.json"
    argv = ["evaluate", "--model", amalgamated, "--celeba-dir", str(data)]
    capsys.readouterr()
    assert main(argv + ["--output", str(report_path)]) == 0
    assert "mean ROC-AUC: " in capsys.readouterr().out
    with open(report_path) as f:
        report = json.load(f)
    assert report["num_images"] == 6  # the test split
    assert 0.0 <= report["mean"]["roc_auc"] <= 1.0
    assert main(argv + ["--image-size", "32"]) == 2
    assert "argument --image-size" in capsys.readouterr().err


def test_inspect_prints_layers_and_target_labels(amalgamated, teachers, capsys):
    capsys.readouterr()
    assert main(["inspect", "--model", teachers["face"]]) == 0
    out = capsys.readouterr().out
    for name in ("face_block1", "face_block2", "MaxPooling2D", "(None, 8, 8, 4)"):
        assert name in out
    assert main(["inspect", "--model", amalgamated]) == 0
    out = capsys.readouterr().out
    assert "TargetNet" in out and "trunk_block_1" in out
    assert "target labels: " + ", ".join(TARGET_LABELS) in out


def error_of(argv, capsys):
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    return err


def test_usage_errors_name_the_argument(teachers, tmp_path, capsys):
    output = str(tmp_path / "target.keras")
    missing = dict(teachers, hair=str(tmp_path / "missing.keras"))
    err = error_of(amalgamate_args(missing, output), capsys)
    assert "argument --teacher" in err and "missing.keras" in err

    argv = amalgamate_args(teachers, output)
    argv[argv.index("hair_block1,hair_block2")] = "hair_block1,nope"
    err = error_of(argv, capsys)
    assert "argument --blocks" in err and "'nope'" in err

    err = error_of(amalgamate_args(teachers, output, "Blond_Hair,Bald"), capsys)
    assert "argument --target-labels" in err and "'Bald'" in err

    argv = ["amalgamate", *teacher_args(teachers, "expr:sigmoid"), "--output", output]
    err = error_of(argv + ["--target-labels", "Smiling"], capsys)
    assert "argument --tasks" in err

    argv = ["amalgamate", *teacher_args(teachers, "expr:sigmoid:Smiling,Male")]
    err = error_of(argv + ["--target-labels", "Smiling", "--output", output], capsys)
    assert "argument --tasks" in err and "The model has 2 outputs" in err

    argv = amalgamate_args(teachers, output)
    argv[argv.index("Black_Hair,Blond_Hair")] = "Black_Hair,Blond_Hair,Red_Hair"
    err = error_of(argv, capsys)
    assert "argument --labels" in err and "has 3 labels" in err

    err = error_of(["amalgamate", "--blocks", "a,b", "--teacher", "x"], capsys)
    assert "argument --blocks" in err and "--teacher" in err

    argv = amalgamate_args(teachers, output)
    argv[argv.index("--output") + 1] = str(tmp_path / "target.h5")
    err = error_of(argv, capsys)
    assert "argument --output" in err and ".keras" in err
    assert not os.listdir(tmp_path)


def test_backend_cannot_change_after_keras_import(capsys):
    other = "jax" if keras.backend.backend() != "jax" else "tensorflow"
    err = error_of(["--backend", other, "inspect", "--model", "x.keras"], capsys)
    assert "argument --backend" in err and "KERAS_BACKEND" in err
    # The current backend is accepted (and --backend may follow the command).
    argv = ["inspect", "--backend", keras.backend.backend(), "--model", "x.keras"]
    err = error_of(argv, capsys)
    assert "argument --model" in err and "not found" in err


@pytest.mark.parametrize("command", ["amalgamate", "sample", "evaluate", "inspect"])
def test_help_of_every_command(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: keras-dfka {command}")


def test_module_entry_point_help():
    result = subprocess.run(
        [sys.executable, "-m", "keras_dfka", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: keras-dfka")
    for command in ("amalgamate", "sample", "evaluate", "inspect", "--backend"):
        assert command in result.stdout


@pytest.mark.parametrize("argv", [["--help"], ["amalgamate", "--steps", "0"]])
def test_command_prints_no_backend_start_up_lines(argv):
    # TensorFlow logs its CPU features (and absl its preamble) on import.
    backend = "tensorflow" if importlib.util.find_spec("tensorflow") else BACKEND
    result = subprocess.run(
        [sys.executable, "-m", "keras_dfka", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, KERAS_BACKEND=backend),
    )
    output = result.stdout + result.stderr
    assert output.startswith("usage: keras-dfka"), output
    assert result.returncode == (0 if argv == ["--help"] else 2)
    for line in ("cpu_feature_guard", "absl::InitializeLog", "oneDNN"):
        assert line not in output


def _nested_teacher(path):
    """A teacher whose convolutions sit in a nested functional model."""
    keras.utils.set_random_seed(0)
    image = keras.Input(IMAGE_SHAPE, name="base_image")
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="base_conv1")(image)
    x = keras.layers.ReLU(name="base_relu1")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="base_conv2")(x)
    x = keras.layers.ReLU(name="base_relu2")(x)
    base = keras.Model(image, x, name="base")
    inputs = keras.Input(IMAGE_SHAPE, name="hair_image")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(base(inputs))
    outputs = keras.layers.Dense(2, activation="sigmoid", name="hair")(x)
    keras.Model(inputs, outputs, name="nested_hair").save(path)
    return path


def test_inspect_proposes_blocks_of_a_nested_model(tmp_path, capsys):
    path = _nested_teacher(str(tmp_path / "nested.keras"))
    capsys.readouterr()
    assert main(["inspect", "--model", path]) == 0
    out = capsys.readouterr().out
    assert "nested models are inlined" in out
    assert "| base_conv1 | Conv2D |" in out and "stage_end" in out
    assert "| base_relu1 | ReLU | (None, 8, 8, 4) | 0 | * |" in out
    assert "proposed --blocks (the 2 stage ends" in out
    assert out.rstrip().endswith("base_relu1,base_relu2")


def test_missing_blocks_are_proposed(teachers, tmp_path, capsys):
    from keras_dfka.cli.amalgamate import propose_missing_blocks

    nested = _nested_teacher(str(tmp_path / "nested.keras"))
    models = [keras.saving.load_model(p) for p in (teachers["hair"], nested)]
    # Neither given: every stage end of each (2 each).
    specs = [{"path": "hair.keras"}, {"path": "nested.keras"}]
    assert propose_missing_blocks(specs, models) == [0, 1]
    assert specs[0]["blocks"] == ["hair_b2_relu1", "hair_block2"]
    assert specs[1]["blocks"] == ["base_relu1", "base_relu2"]
    # One given: the others take its count, their last stage ends.
    specs = [{"path": "hair.keras", "blocks": ["hair_block2"]}, {"path": "n"}]
    assert propose_missing_blocks(specs, models) == [1]
    assert specs[1]["blocks"] == ["base_relu2"]
    specs = [{"path": "hair.keras", "blocks": ["a", "b", "c"]}, {"path": "n"}]
    with pytest.raises(ValueError, match="argument --blocks: missing for --teacher n"):
        propose_missing_blocks(specs, models)
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="none can be proposed: .*no stage end"):
        propose_missing_blocks([{"path": "d"}], [dense])

    # On the command line: the proposal is printed (then, here, a usage
    # error stops the run before training).
    argv = amalgamate_args(teachers, str(tmp_path / "t.keras"), "Blond_Hair,Bald")
    argv[argv.index("--teacher") : argv.index("--teacher") + 6] = [
        "--teacher",
        nested,
        "--labels",
        "Black_Hair,Blond_Hair",
    ]
    capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert f"--teacher {nested}: proposed --blocks base_relu1,base_relu2" in (
        captured.out
    )
    assert "argument --target-labels" in captured.err
