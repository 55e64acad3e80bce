"""`litefleet selftest`: the reliability scenarios that make sense on one device, against
a local server the selftest starts, with the device's own LiteRT, disk and CPU.

    report = run_selftest(["crash", "attacks", "bad-releases", "network"], quick=True)
    print(report.table())
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from litefleet.selftest import attacks, badreleases, crash, network
from litefleet.selftest.tally import Report, Tally
from litefleet.testing.lab import Lab

SCENARIOS: dict[str, Callable[[Lab, bool], Tally]] = {
    "crash": lambda lab, quick: crash.run(
        lab, per_point=1 if quick else 5, random_kills=3 if quick else 20
    ),
    "attacks": lambda lab, quick: attacks.run(lab, rounds=1),
    "bad-releases": lambda lab, quick: badreleases.run(lab, rounds=1 if quick else 2),
    "network": lambda lab, quick: network.run(lab, rounds=1),
}


def run_selftest(
    names: list[str] | None = None,
    *,
    quick: bool = True,
    workdir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Run each scenario in its own lab (fresh repository, server and proxy)."""
    report = Report()
    with tempfile.TemporaryDirectory(prefix="litefleet-selftest-", dir=workdir) as tmp:
        for name in names or list(SCENARIOS):
            if progress:
                progress(name)
            with Lab(Path(tmp) / name) as lab:
                try:
                    report.add(SCENARIOS[name](lab, quick))
                except Exception as exc:  # a scenario that cannot even run is a failure
                    t = Tally(name)
                    t.trial("setup", False, f"{type(exc).__name__}: {exc}")
                    report.add(t)
    return report
