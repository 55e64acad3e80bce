"""Bad releases, validly signed: the gate must refuse them (or probation roll them back)
while the app keeps predicting with the model it has.

Each bad file is first offered to the real `publish`; a refusal there counts ("refused at
publish") and the file is then signed anyway (`Lab.force_publish`), so the device side is
always tested too.
"""

from __future__ import annotations

import random
import time

from litefleet.device.agent import Agent
from litefleet.device.store import ModelStore
from litefleet.errors import UserError
from litefleet.selftest.tally import Tally
from litefleet.testing import tiny_models as assets
from litefleet.testing.lab import Lab, app_traffic

SCENARIO = "bad releases"
LATENCY_BUDGET_MS = 0.5
"""Between the good models (~0.01 ms) and the slow one (~1.3 ms) on a laptop-class CPU."""


def _corrupt(data: bytes, seed: int) -> bytes:
    rng = random.Random(seed)
    b = bytearray(data)
    for _ in range(16):
        b[rng.randrange(8, len(b))] ^= 0xFF
    return bytes(b)


def bad_files(seed: int = 0) -> dict[str, bytes]:
    good = assets.model("v2-float32")
    rng = random.Random(seed)
    return {
        "corrupt file": _corrupt(good, seed),
        "truncated file": good[: int(len(good) * rng.uniform(0.3, 0.9))],
        "not a TFLite file": b"PK\x03\x04" + rng.randbytes(len(good)),
        "wrong input signature": assets.model("wide-float32"),
        "NaN output": assets.model("nan-float32"),
        "accuracy regression (golden set)": assets.model("bad-float32"),
        "latency regression": assets.model("slow-float32"),
    }


def run(lab: Lab, tally: Tally | None = None, rounds: int = 1) -> Tally:
    tally = tally or Tally(SCENARIO)
    lab.publish("v1", 1)
    home = lab.device(
        "bad-releases",
        direct=True,
        latency_budget_ms=LATENCY_BUDGET_MS,
        probation={"predictions": 10**9, "seconds": 10**9},
    )
    first = Agent(home).check()
    if first.active_version != 1:
        raise RuntimeError(f"the good release did not install: {first}")
    version = 1
    with app_traffic(home, lab.x) as app:
        for r in range(rounds):
            for name, data in bad_files(seed=r).items():
                version += 1
                folder = lab.build(name.split()[0], files={"float32": data})
                try:
                    lab.publish(folder, version)
                except UserError:
                    tally.note("refused at publish")
                    lab.force_publish(folder, version)
                errors_before = app["errors"]
                result = Agent(home).check()
                bad = lab.store_problem(home, expect=1)
                if not bad and result.action != "rejected":
                    bad = f"action {result.action}: {result.reason}"
                if not bad and version in ModelStore(home).installed():
                    bad = "the bad release is on disk as installed"
                if not bad and app["errors"] != errors_before:
                    bad = f"the app saw {app['errors'] - errors_before} failed predictions"
                if tally.trial(name, not bad, bad):
                    tally.note("refused by the device gate")
        calls = app["calls"]
    version += 1
    _probation_trial(lab, tally, home, version)
    tally.note("app predictions during bad releases", calls)
    return tally


def _probation_trial(lab: Lab, tally: Tally, home, version: int) -> None:
    """A release that passes the gate but fails in the field (inputs drift far away from
    its reference statistics): rolled back during probation, the app never fails."""
    lab.publish("v3", version)
    r = Agent(home).check()
    if r.active_version != version:
        tally.trial("field failure: rolled back during probation", False, f"{r}")
        return
    with app_traffic(home, lab.x, shift=8.0) as app:
        deadline = time.monotonic() + 10
        result = None
        while time.monotonic() < deadline:
            time.sleep(0.2)
            result = Agent(home).check()
            if result.action == "rolled_back":
                break
        errors = app["errors"]
    bad = lab.store_problem(home, expect=1)
    if not bad and (result is None or result.action != "rolled_back"):
        bad = f"not rolled back: {result}"
    if not bad and errors:
        bad = f"the app saw {errors} failed predictions"
    tally.trial("field failure: rolled back during probation", not bad, bad)
