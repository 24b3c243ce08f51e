"""Examples of keras-dfka: each folder holds a config, a train module and a
thin main (`python examples/multilabel_face.py` runs `faces`)."""
