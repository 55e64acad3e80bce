"""Attacks on the update path: a network attacker (the proxy rewrites anything) and a
publisher who signs what it should not. None may be accepted; the device keeps its model.

Phase 1 (network): a device runs v2, v3 is published, and each attack runs against a fresh
copy of that device; then the attack stops and the same device must install v3.
Phase 2 (signed, release counter): the repository re-signs an index or rollout that
offers only older releases; a device on v3 must stay there. A signed `abort` is the one
way down and is honoured (a control trial).
Phase 3 (delta): a patch that produces wrong bytes, tampered on the wire or validly signed:
the device must notice and install the right bytes from the full file.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from litefleet.device.agent import Agent
from litefleet.device.store import ModelStore, sha256_file
from litefleet.release import ROLLOUT_ROLE, ReleaseIndex, RolloutState, index_path, rollout_path
from litefleet.selftest.tally import Tally
from litefleet.testing import proxy as px
from litefleet.testing import tiny_models as assets
from litefleet.testing.lab import MODEL, Lab

SCENARIO = "attacks through the proxy"


def _sign(md, signers) -> bytes:
    from tuf.api.serialization.json import JSONSerializer

    md.signatures.clear()
    for s in signers:
        md.sign(s, append=True)
    return md.to_bytes(JSONSerializer(compact=False))


def _forged_timestamp(lab: Lab, *, expired: bool = False, attacker: bool = False) -> bytes:
    from securesystemslib.signer import CryptoSigner
    from tuf.api.metadata import Metadata

    md = Metadata.from_bytes(lab.metadata("timestamp.json"))
    md.signed.version += 1
    now = datetime.now(UTC).replace(microsecond=0)
    md.signed.expires = now - timedelta(hours=1) if expired else now + timedelta(days=1)
    signers = [CryptoSigner.generate_ed25519()] if attacker else lab.repo.keys.signers("timestamp")
    return _sign(md, signers)


def _forged_root(lab: Lab) -> tuple[str, bytes]:
    """The next root version, listing the attacker's key and signed by it alone."""
    from securesystemslib.signer import CryptoSigner
    from tuf.api.metadata import Metadata

    md = Metadata.from_bytes(lab.metadata("root.json"))
    evil = CryptoSigner.generate_ed25519()
    for role in ("root", "targets", "snapshot", "timestamp"):
        md.signed.add_key(evil.public_key, role)
    md.signed.version += 1
    return f"{md.signed.version}.root.json", _sign(md, [evil])


def network_attacks(lab: Lab) -> dict[str, px.Fault]:
    """name -> fault; built after v3 is published (they replay or forge current files)."""
    ts = lab.repo.load("timestamp").signed
    snap_v = ts.snapshot_meta.version
    targets_v = lab.repo.load("snapshot").signed.meta["targets.json"].version
    root_name, root_bytes = _forged_root(lab)
    return {
        "arbitrary target (changed bytes)": px.tamper(r"\.(tflite|patch|npz)$", px.flip_byte),
        "rollback: old timestamp replayed": px.serve(r"/timestamp\.json$", lab.old_timestamp),
        "freeze: expired timestamp, real key": px.serve(
            r"/timestamp\.json$", _forged_timestamp(lab, expired=True)
        ),
        "mix-and-match: old snapshot": px.substitute(
            rf"/{snap_v}\.snapshot\.json$", lambda _: lab.metadata(f"{snap_v - 1}.snapshot.json")
        ),
        "mix-and-match: old targets": px.substitute(
            rf"/{targets_v}\.targets\.json$",
            lambda _: lab.metadata(f"{targets_v - 1}.targets.json"),
        ),
        "endless target": px.endless(r"\.(tflite|patch|npz)$"),
        "endless timestamp": px.endless(r"/timestamp\.json$"),
        "target longer than signed": px.tamper(r"\.(tflite|patch|npz)$", lambda b: b + b"\0" * 64),
        "timestamp signed by an unlisted key": px.serve(
            r"/timestamp\.json$", _forged_timestamp(lab, attacker=True)
        ),
        "root signed by an unlisted key": px.serve(rf"/{root_name}$", root_bytes),
    }


def _copy(template: Path, name: str) -> Path:
    home = template.parent / name
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(template, home, symlinks=True)
    return home


def run(lab: Lab, tally: Tally | None = None, rounds: int = 1) -> Tally:
    tally = tally or Tally(SCENARIO)
    lab.publish("v1", 1)
    lab.old_timestamp = lab.metadata("timestamp.json")  # type: ignore[attr-defined]
    template = lab.device("attack-template")
    Agent(template).check()
    lab.publish("v2", 2)
    assert Agent(template).check().active_version == 2, "the honest update must work"
    lab.publish("v3", 3)
    faults = network_attacks(lab)
    n = 0
    for _ in range(rounds):
        for name, fault in faults.items():
            n += 1
            home = _copy(template, f"attack-{n}")
            lab.proxy.fault = fault
            try:
                r = Agent(home).check()
            finally:
                lab.proxy.fault = None
            bad = lab.store_problem(home, expect=2)
            if not bad and 3 in ModelStore(home).installed():
                bad = "the attacked release was installed"
            if not bad and r.action not in ("error", "rejected", "none"):
                bad = f"action {r.action}"
            if not bad:  # the attack is over: the device must get the real v3
                again = Agent(home).check()
                if again.active_version != 3:
                    bad = f"did not recover: {again.action} {again.reason}"
                else:
                    bad = lab.store_problem(home, expect=3)
            tally.trial(name, not bad, bad)
            tally.note(f"refused as {r.action}")
    _signed_counter_attacks(lab, tally, template)
    _patch_attacks(lab, tally, template)
    return tally


def _resign(lab: Lab, index: ReleaseIndex | None = None, rollout: RolloutState | None = None):
    """Sign a new index and/or rollout state with the real keys (the lab holds them)."""
    with lab.repo.transaction(roles=("targets", ROLLOUT_ROLE)) as tx:
        if index is not None:
            tx.add_target(index_path(MODEL), index.model_dump_json(indent=1).encode())
        if rollout is not None:
            tx.add_target(rollout_path(MODEL), rollout.model_dump_json(indent=1).encode())


def _signed_counter_attacks(lab: Lab, tally: Tally, template: Path) -> None:
    home = _copy(template, "counter")
    assert Agent(home).check().active_version == 3
    honest = ReleaseIndex.model_validate_json(lab.target_bytes(index_path(MODEL)))
    state = RolloutState.model_validate_json(lab.target_bytes(rollout_path(MODEL)))
    older = honest.model_copy(update={"releases": [r for r in honest.releases if r.version < 3]})
    cases = {
        "old release re-signed as newest (index without v3)": (older, None),
        "rollout re-signed: v3 paused, v2 active": (
            None,
            state.model_copy(
                update={
                    "rollouts": {
                        **state.rollouts,
                        3: state.rollouts[3].model_copy(update={"status": "paused"}),
                    }
                }
            ),
        ),
    }
    for name, (index, rollout) in cases.items():
        _resign(lab, index, rollout)
        r = Agent(home).check()
        bad = lab.store_problem(home, expect=3)
        tally.trial(name, not bad and r.action == "none", bad or f"action {r.action}")
    _resign(lab, honest, state)
    lab.rollout(3, "abort")
    r = Agent(home).check()
    ok = r.action == "rolled_back" and not lab.store_problem(home, expect=2)
    tally.trial("control: a signed abort is the one way down", ok, f"{r.action} {r.reason}")


def _patch_attacks(lab: Lab, tally: Tally, template: Path) -> None:
    from litefleet.delta import make_patch

    lab.publish("v4", 4)
    base = _copy(template, "patch-base")  # on v2 (v3 was aborted): patches 2 -> 4
    start = ModelStore(base).active_version()
    signed = {v: lab.target_bytes(f"{MODEL}/4/{v}.tflite") for v in ("float32", "int8")}

    def check(name: str) -> None:
        home = _copy(base, name.split(":")[0].replace(" ", "-"))
        r = Agent(home).check()
        lab.proxy.fault = None
        st = ModelStore(home)
        bad = lab.store_problem(home, expect=4)
        if not bad:
            m = st.manifest(4)
            if sha256_file(st.model_path(4)) != sha256_file_bytes(signed[m.variant]):
                bad = "installed bytes differ from the signed file"
            elif r.source != "full":
                bad = f"source {r.source}: the bad patch was used"
        tally.trial(name, not bad, bad)

    lab.proxy.fault = px.tamper(r"\.patch$", px.flip_byte)
    check("delta patch tampered on the wire")
    with lab.repo.transaction(roles=("targets",)) as tx:
        for variant in ("float32", "int8"):
            wrong = make_patch(
                lab.target_bytes(f"{MODEL}/{start}/{variant}.tflite"),
                assets.model(f"v1-{variant}"),
            )
            tx.add_target(f"{MODEL}/4/{variant}.from-{start}.patch", wrong)
    check("signed delta patch producing wrong bytes")


def sha256_file_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
