"""Quality of the data-free student against the paper's recipe, ablations
and baselines (`quality.py`): the rows in `rows`, the CelebA and MNIST runs
in `runs`, the summary table in `summary`."""
