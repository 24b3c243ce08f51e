"""Smoke test of the main job at tiny size (about a minute)."""

import json
import os
import subprocess
import sys

import pytest

import keras_dfka
from examples.faces import config as face_config
from examples.faces import train as faces

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tiny_config(workdir):
    return face_config.FaceConfig(
        image_size=16,
        num_procedural_faces=400,
        teacher_epochs=1,
        # Shared widths are at least 8 channels, so the TargetNet is smaller
        # than the teachers only when they are wider than that.
        teacher_widths=(8, 16, 16),
        amalgamation=keras_dfka.AmalgamationConfig(
            gan_steps=3,
            dual_steps=3,
            batch_size=16,
            latent_dim=16,  # latent_targets: one dimension per teacher label
            verbose=0,
            jit_compile=False,
        ),
        workdir=str(workdir),
    )


def test_face_experiment_runs_end_to_end(tmp_path, capsys):
    first = tiny_config(tmp_path)
    first.keep_checkpoint = True
    report = faces.run(first)
    for name in ("report.json", "report.md", "generated.png", "target_net.keras"):
        assert os.path.exists(tmp_path / name), name
    assert os.path.isdir(tmp_path / "logs" / "adversarial_amalgamation")
    with open(tmp_path / "report.json") as f:
        saved = json.load(f)
    models = [row["model"] for row in saved["summary"]]
    assert models == ["teachers", "data_student", "target_net", "noise_student"]
    # Every model also scored on the validation split, with its own gap.
    for row in saved["summary"]:
        assert 0 <= row["validation_roc_auc"] <= 1, row
    auc = {row["model"]: row["validation_roc_auc"] for row in saved["summary"]}
    assert saved["validation_gap_closed"] == pytest.approx(
        (auc["target_net"] - auc["noise_student"])
        / (auc["data_student"] - auc["noise_student"])
    )
    assert "on the validation split" in saved["markdown"]
    assert len(saved["per_label_auc"]) == len(face_config.DEFAULT_TARGETS)
    assert report["parameters"]["target_net"] > 0
    assert 0 < report["parameters"]["ratio"] < 1
    assert os.path.exists(tmp_path / "checkpoint" / "checkpoint.json")
    assert "Kept the run's checkpoint" in capsys.readouterr().out
    # A second run reuses the saved teachers and refuses to overwrite.
    with pytest.raises(FileExistsError, match="report"):
        faces.run(tiny_config(tmp_path))
    target = [row for row in report["summary"] if row["model"] == "target_net"]
    # Resuming the finished run trains nothing data-free: the same TargetNet.
    config = tiny_config(tmp_path)
    config.overwrite = config.resume = config.keep_checkpoint = True
    resumed = faces.run(config)
    assert [r for r in resumed["summary"] if r["model"] == "target_net"] == target
    # Without --resume or --overwrite, the checkpoint is refused before work.
    for name in ("report.json", "report.md"):
        os.remove(tmp_path / name)
    with pytest.raises(FileExistsError, match="checkpoint.*--resume"):
        faces.run(tiny_config(tmp_path))
    config = tiny_config(tmp_path)
    config.overwrite = True
    again = faces.run(config)
    assert all(again["teachers_reused"].values())
    # A run that finished removes the checkpoint it made (only a killed run
    # needs it), and says so.
    assert not os.path.exists(tmp_path / "checkpoint")
    assert "Removed the run's checkpoint" in capsys.readouterr().out


def test_example_script_help_and_bad_flag():
    script = os.path.join(ROOT, "examples", "multilabel_face.py")
    result = subprocess.run(
        [sys.executable, script, "--helpfull"], capture_output=True, text=True
    )
    assert "--data_dir" in result.stdout + result.stderr
    result = subprocess.run(
        [sys.executable, script, "--steps=-1", "--workdir=/nonexistent/x"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "--steps must be positive" in result.stdout + result.stderr


def test_example_script_rejects_an_unknown_config_field(tmp_path):
    script = os.path.join(ROOT, "examples", "multilabel_face.py")
    result = subprocess.run(
        [sys.executable, script, "--amalgamation=gan_step=3", f"--workdir={tmp_path}"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "Unknown AmalgamationConfig field 'gan_step'" in result.stderr
    assert not os.listdir(tmp_path)
