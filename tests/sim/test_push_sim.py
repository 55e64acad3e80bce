"""Push in the fleet simulator: nudged devices check at once for a halt, within the spread
for a release, at reconnect when they were offline; polling alone is the baseline."""

from __future__ import annotations

from litefleet.sim.config import PushSim, RunConfig
from litefleet.sim.runner import releases_of, run_one
from litefleet.sim.traces import make_traces
from tests.sim.conftest import small

POLL = RunConfig(name="periodic", strategy="periodic")
PUSH = RunConfig(name="periodic-push", strategy="periodic", push=PushSim(release_spread_s=600))


def test_push_takes_a_halt_to_the_online_fleet_at_once_and_polling_does_not():
    cfg = small()
    traces = make_traces(cfg, len(releases_of(cfg)))
    poll, push = (run_one(cfg, run, traces).summary for run in (POLL, PUSH))
    poll_reach = {r["kind"]: r for r in poll["bad_release"]["reach"]}
    push_reach = {r["kind"]: r for r in push["bad_release"]["reach"]}
    assert set(push_reach) == {"pause", "abort"}
    # the online devices (the traces put ~1/4 offline at times) learn of it in the same
    # second; the rest at reconnect; polling takes hours (6 h interval)
    assert push_reach["abort"]["hours_to_50"] == 0.0
    assert poll_reach["abort"]["hours_to_50"] > 1.0
    assert push_reach["abort"]["hours_to_95"] < poll_reach["abort"]["hours_to_95"]
    assert (
        push["bad_release"]["hours_to_leave_after_abort"]
        < poll["bad_release"]["hours_to_leave_after_abort"] / 10
    )
    # the nudge costs checks: the spread bounds the peak; polling goes on as before
    assert push["load"]["checks"] > poll["load"]["checks"]
    assert push["load"]["peak_minute_requests"] > poll["load"]["peak_minute_requests"]
