"""Release choice: channel, cohort, paused/aborted, and the monotonic release counter."""

from __future__ import annotations

from litefleet.device.selection import choose_release
from litefleet.release import (
    Release,
    ReleaseIndex,
    RolloutEntry,
    RolloutState,
    Signature,
    TensorSpec,
    in_rollout,
)
from litefleet.testing.releases import release_fields

SIG = Signature(
    inputs=[TensorSpec(name="x", shape=[1, 8], dtype="float32")],
    outputs=[TensorSpec(name="y", shape=[1, 3], dtype="float32")],
)


def index(*versions: int, channel: str = "stable") -> ReleaseIndex:
    return ReleaseIndex(
        model="m",
        signature=SIG,
        releases=[
            Release(
                version=v,
                channel=channel,
                created="",
                variants={},
                **release_fields("m", v),
            )
            for v in versions
        ],
    )


def rollout(**entries: RolloutEntry) -> RolloutState:
    return RolloutState(model="m", rollouts={int(k[1:]): e for k, e in entries.items()})


FULL = RolloutEntry(percent=100)


def choose(idx, ro, active=None, highest=0, blocked=(), channel="stable", device="d1"):
    return choose_release(
        idx,
        ro,
        device_id=device,
        channel=channel,
        active=active,
        highest=highest,
        blocked=set(blocked),
    )


def test_newest_offered_release_wins():
    c = choose(index(1, 2, 3), rollout(v1=FULL, v2=FULL, v3=FULL), active=1, highest=1)
    assert (c.kind, c.version) == ("install", 3)


def test_never_below_the_highest_activated_release():
    """A repository re-signing an old release as current cannot move the device back."""
    c = choose(index(1, 2), rollout(v1=FULL, v2=FULL), active=2, highest=3)
    assert c.kind == "none"
    c = choose(index(1, 2, 3), rollout(v1=FULL, v2=FULL, v3=FULL), active=2, highest=3, blocked={3})
    assert c.kind == "none", "rolled back on command: stay"


def test_aborted_active_release_goes_back_to_newest_not_aborted():
    ro = rollout(
        v1=FULL,
        v2=RolloutEntry(percent=100, status="aborted"),
        v3=RolloutEntry(percent=100, status="aborted"),
    )
    c = choose(index(1, 2, 3), ro, active=3, highest=3)
    assert (c.kind, c.version) == ("back", 1)


def test_paused_release_reaches_no_new_device_and_unlisted_is_not_rolled_out():
    ro = rollout(v1=FULL, v2=RolloutEntry(percent=100, status="paused"))
    assert choose(index(1, 2), ro, active=1, highest=1).kind == "none"
    assert choose(index(1, 2), rollout(v1=FULL), active=1, highest=1).kind == "none"


def test_channel_must_match():
    assert choose(index(1, channel="beta"), rollout(v1=FULL)).kind == "none"
    assert choose(index(1, channel="beta"), rollout(v1=FULL), channel="beta").version == 1


def test_cohort_is_stable_and_monotone_in_percent():
    idx = index(1)
    devices = [f"dev{i}" for i in range(400)]
    at = {
        p: {
            d
            for d in devices
            if choose(idx, rollout(v1=RolloutEntry(percent=p)), device=d).kind == "install"
        }
        for p in (10, 50, 90)
    }
    assert at[10] <= at[50] <= at[90]
    assert 20 < len(at[10]) < 60 and 160 < len(at[50]) < 240
    assert all(in_rollout(d, "m", 1, 10) for d in at[10])


def test_a_cohort_predicate_replaces_the_device_hash():
    """The simulator asks once per group of devices with a predicate over precomputed
    buckets; by default the device's own `in_rollout` decides."""
    half = RolloutEntry(percent=50)
    idx, ro = index(1, 2), rollout(v1=FULL, v2=half)
    asked = []

    def only_v1(version: int, percent: float) -> bool:
        asked.append((version, percent))
        return version == 1

    c = choose_release(
        idx,
        ro,
        device_id="x",
        channel="stable",
        active=None,
        highest=0,
        blocked=set(),
        in_cohort=only_v1,
    )
    assert (c.kind, c.version) == ("install", 1) and (2, 50.0) in asked
    devices = [f"d{i}" for i in range(40)]
    inside = [d for d in devices if in_rollout(d, "m", 2, 50)]
    assert 0 < len(inside) < len(devices)
    for d in devices:
        assert choose(idx, ro, device=d).version == (2 if d in inside else 1), d


def test_a_tagged_rollout_reaches_only_its_groups():
    ro = RolloutState(
        model="m",
        rollouts={1: FULL, 2: RolloutEntry(percent=100, tags=["camera"])},
        groups={"camera": ["cam1"], "kiosk": ["d1"]},
    )
    assert choose(index(1, 2), ro, active=1, highest=1, device="d1").kind == "none"
    c = choose(index(1, 2), ro, active=1, highest=1, device="cam1")
    assert (c.kind, c.version) == ("install", 2)


def test_a_pin_holds_a_device_or_group_on_its_release():
    ro = RolloutState(
        model="m",
        rollouts={1: FULL, 2: FULL, 3: FULL},
        pins={"device:d1": 2, "tag:kiosk": 1, "tag:lab": 3},
        groups={"kiosk": ["k1", "d1"], "lab": ["k1"]},
    )
    idx = index(1, 2, 3)
    assert choose(idx, ro, active=2, highest=2, device="d1").reason == "pinned to release 2"
    assert choose(idx, ro, active=2, highest=2, device="d1").kind == "none", "device pin wins"
    c = choose(idx, ro, active=None, highest=0, device="k1")
    assert (c.kind, c.version) == ("install", 1), "first tag pin by name"
    assert choose(idx, ro, active=1, highest=1, device="other").version == 3, "unpinned"
    c = choose(idx, ro, active=3, highest=3, device="k1")
    assert (c.kind, c.version) == ("back", 1), "a pin below the active release goes back"


def test_a_pin_on_an_aborted_or_blocked_release_is_ignored():
    ro = RolloutState(
        model="m",
        rollouts={1: FULL, 2: RolloutEntry(percent=100, status="aborted")},
        pins={"device:d1": 2},
    )
    c = choose(index(1, 2), ro, active=None, highest=0, device="d1")
    assert (c.kind, c.version) == ("install", 1)
    ro2 = ro.model_copy(update={"pins": {"device:d1": 1}})
    assert choose(index(1, 2), ro2, active=None, highest=0, blocked={1}).kind == "none"
