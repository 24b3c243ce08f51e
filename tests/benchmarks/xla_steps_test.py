"""`python -m benchmarks.speed.xla_steps` needs 64x64 teachers; here only its
argument check (the numbers in benchmarks/README.md come from real runs)."""

from benchmark_runner import run_module


def test_xla_steps_refuses_a_missing_teachers_folder(tmp_path):
    missing = tmp_path / "nowhere"
    result = run_module("speed.xla_steps", f"--teachers={missing}")
    assert result.returncode != 0
    assert "--teachers must be a folder" in result.stderr + result.stdout
