"""``python -m figure_check_main ARGS`` is ``tntk ARGS`` with every saved figure checked by
:func:`test_figures.figure_problems`; one JSON line per figure (stem, problems) is appended to
``$TNTK_FIGURE_CHECK``. Lets ``test_paper`` check the figures of the run it makes anyway."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from test_figures import figure_problems  # noqa: E402

from typicality_ntk.cli import main  # noqa: E402
from typicality_ntk.plot import _common  # noqa: E402


def _record(fig, stem):
    with open(os.environ["TNTK_FIGURE_CHECK"], "a") as f:
        f.write(json.dumps({"stem": stem, "problems": figure_problems(fig)}) + "\n")


_common.FIGURE_HOOKS.append(_record)
main()
