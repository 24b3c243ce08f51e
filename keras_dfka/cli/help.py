"""`keras-dfka --help`, `keras-dfka COMMAND --help` and `--version`,
answered before Keras (and its backend) is imported.

`keras_dfka/__init__.py` calls `answer_without_keras()` first when it runs
as the `keras-dfka` program (or `python -m keras_dfka`): when the arguments
ask for help or the version, the parser is built without `amalgamate`'s run
options (which come from `AmalgamationConfig` and import Keras) and answers,
and the process exits. `keras-dfka amalgamate --help` still imports Keras.
"""

import sys

from keras_dfka.cli.common import PROG

_ASKS = ("-h", "--help", "--version")


def version_text():
    """`"keras-dfka <version>"`."""
    from keras_dfka import __version__

    return f"{PROG} {__version__}"


def command_of(argv):
    """The subcommand named in `argv` (None if there is none)."""
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token == "--backend":
            skip = True
        elif not token.startswith("-"):
            return token
    return None


def answer_without_keras(argv=None):
    """Prints the help or the version and exits if `argv` asks for it and
    the answer needs no Keras; returns otherwise.

    Args:
        argv: the arguments without the program name (default:
            `sys.argv[1:]`).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(token in _ASKS for token in argv) or "--" in argv:
        return
    if command_of(argv) == "amalgamate":
        return
    from keras_dfka.cli.parser import build_parser

    # Exits (0 after the help or the version, 2 on a usage error found
    # first, as the full parser would); returns if neither was reached.
    build_parser(config_options=False).parse_args(argv)
