"""``python -m newsflow``: the command line."""

from newsflow.cli import main

main()
