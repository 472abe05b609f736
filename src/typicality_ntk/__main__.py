"""``python -m typicality_ntk`` is ``tntk``."""

from typicality_ntk.cli import main

main()
