"""Training speed of AmalgamGAN and DualGenerator (`speed.py`), and two
probes of one step (`profile_step.py`, `xla_steps.py`).

`settings` holds the configurations, `models` builds them, `measure` times
one of them inside a worker subprocess (`worker`), `benchmark` plans and
assembles a run and `report` prints it.
"""
