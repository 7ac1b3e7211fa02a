"""``python -m newsflow``: the same as the ``newsflow`` command."""

from newsflow.cli import main

main()
