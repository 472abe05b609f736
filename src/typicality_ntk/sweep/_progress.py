"""Progress of a run that no long step can hide: what is being computed, at least every 10 s.

A bar over chunks (tqdm) moves only when a chunk ends, and a single point may be one chunk of
minutes (``mp_spectrum`` at d_A = 512 in float64) or one compile of minutes. :class:`Heartbeat`
keeps a line saying what the runner is doing (``compiling point 2/3 (d_a=512)``, ``point 2/3:
chunk 1/4``) and, from a daemon thread, refreshes the bar with it on a terminal and logs it every
``interval`` seconds otherwise (a batch job's log shows it is alive and where).
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["HEARTBEAT_SECONDS", "Heartbeat"]

log = logging.getLogger("typicality_ntk")

#: Longest silence of a run that is not on a terminal.
HEARTBEAT_SECONDS = 10.0


class Heartbeat:
    """Context manager: ``with Heartbeat(name, bar) as hb: hb.status = "..."``.

    Args:
        name: what runs (the experiment's name), first on every line.
        bar: a tqdm bar, refreshed with the status when it is shown (a terminal); ``None`` or a
            disabled bar: log lines instead.
        interval: seconds between two lines (default :data:`HEARTBEAT_SECONDS`).
    """

    def __init__(self, name: str, bar=None, interval: float | None = None):
        self.name, self.bar = name, bar
        self.interval = HEARTBEAT_SECONDS if interval is None else interval
        self.status = "starting"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{name}", daemon=True)
        self._t0 = time.perf_counter()

    def _beat(self) -> None:
        shown = self.bar is not None and not getattr(self.bar, "disable", True)
        wait = 1.0 if shown else self.interval
        while not self._stop.wait(wait):
            elapsed = time.perf_counter() - self._t0
            if shown:
                self.bar.set_postfix_str(self.status, refresh=True)
            else:
                log.info("%s: %s (%.0f s elapsed)", self.name, self.status, elapsed)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
