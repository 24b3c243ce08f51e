"""`python -m keras_dfka`: the `keras-dfka` command line."""

import sys

from keras_dfka.cli import main

if __name__ == "__main__":
    sys.exit(main())
