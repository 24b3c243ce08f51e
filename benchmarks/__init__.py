"""keras-dfka's benchmarks: one folder per benchmark (`README.md`).

Not part of the installed package. Each script runs as a module from the
repository root, e.g. `python -m benchmarks.speed.speed --quick`, so that
`benchmarks.*` and `examples` import; the worker subprocesses run the same
way (`common.run_in_subprocess`).
"""
