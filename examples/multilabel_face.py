"""The main job: face-attribute teachers amalgamated into one TargetNet.

    python examples/multilabel_face.py                     # embedded faces
    python examples/multilabel_face.py --data_dir=../shared/data/celeba

A thin main over `examples/faces/` (flags: `examples/faces/main.py`).
"""

import os
import sys

from absl import app

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from examples.faces.main import main  # noqa: E402

if __name__ == "__main__":
    app.run(main)
