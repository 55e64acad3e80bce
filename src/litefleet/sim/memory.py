"""Peak memory of the whole simulation: this process and every worker it started.

A thread samples psutil every `interval` seconds: the sum of the resident set sizes (RSS)
of the process tree, and the sum of their proportional set sizes (PSS: a page shared by k
processes, such as the memory-mapped traces, counts 1/k in each) where Linux gives it. The
RSS sum counts shared pages once per process, so it is an upper bound of what the machine
needs; PSS is the fair share. `tick` is called on every sample (progress display).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class TreeMemory:
    def __init__(self, interval: float = 0.5, tick: Callable[[], None] | None = None) -> None:
        self.interval = interval
        self.tick = tick
        self.peak_rss = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self, pss: bool = True) -> None:
        """Add up the tree once; PSS (a read of smaps_rollup per process) only when asked."""
        try:
            import psutil
        except ImportError:  # the figure is then missing, not wrong
            return
        me = psutil.Process()
        rss_sum = pss_sum = 0
        for p in [me, *me.children(recursive=True)]:
            try:
                rss_sum += p.memory_info().rss
                if pss:
                    pss_sum += getattr(p.memory_full_info(), "pss", 0)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        self.peak_rss = max(self.peak_rss, rss_sum)
        self.peak_pss = max(self.peak_pss, pss_sum)

    def _loop(self) -> None:
        k = 0
        while not self._stop.wait(self.interval):
            self.sample(pss=k % 4 == 0)
            k += 1
            if self.tick:
                self.tick()

    def figures(self) -> dict[str, Any]:
        return {
            "peak_rss_bytes": self.peak_rss or None,
            "peak_pss_bytes": self.peak_pss or None,
        }
