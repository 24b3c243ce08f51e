"""Training speed of AmalgamGAN and DualGenerator (`speed.py`), and two
probes of one step (`profile_step.py`, `xla_steps.py`).

`settings` holds the configurations and the specs of the measurements,
`models` builds them, `measure` times one of them inside a worker
subprocess (`worker`), `benchmark` plans and assembles a run, `report`
prints it, and `cli` holds the flags `speed.py` shares with
`benchmarks/torch_reference/speed_vs_torch.py`.
"""
