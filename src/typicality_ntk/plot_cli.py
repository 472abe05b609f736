"""``python -m typicality_ntk.plot_cli PATH`` is ``tntk-plot PATH``."""

from typicality_ntk.cli import plot_main

if __name__ == "__main__":
    plot_main()
