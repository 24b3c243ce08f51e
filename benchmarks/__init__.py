"""keras-dfka's benchmarks: one folder per benchmark (`README.md`).

Not part of the installed package. Run each script from the repository root,
e.g. `python benchmarks/speed/speed.py --quick`; every script puts the root
first on `sys.path`, so `benchmarks.*` and `examples` import from anywhere.
"""
