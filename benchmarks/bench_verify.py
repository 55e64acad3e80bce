"""Signature verification on the device: with `cryptography` (now in `litefleet[device]`) and
with securesystemslib's pure-Python ed25519 fallback (what a device got without it).

Both run in the same process on the metadata of a fresh repository: the five verifications
of one update check (root by root, timestamp, snapshot and targets by root, the delegated
`rollout` role by targets). The fallback is selected the way securesystemslib selects it
when `cryptography` is missing (its module flag `CRYPTO_IMPORT_ERROR`). JSON on stdout:

    python benchmarks/bench_verify.py [--rounds N]

`ratio` = fallback time / cryptography time per check.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from securesystemslib.signer import _key as sslib_key
from tuf.api.metadata import Metadata

from litefleet.registry.repository import Repository
from litefleet.release import ROLLOUT_ROLE


def check_verifications(repo: Repository) -> Callable[[], None]:
    """The signature checks of one update check, on this repository's metadata."""
    root = repo.load("root")
    targets = repo.load("targets")
    delegated = Metadata.from_file(str(repo.metadata_dir / f"1.{ROLLOUT_ROLE}.json"))
    by_root = [(role, repo.load(role)) for role in ("root", "timestamp", "snapshot", "targets")]

    def run() -> None:
        for role, md in by_root:
            root.signed.verify_delegate(role, md.signed_bytes, md.signatures)
        targets.signed.verify_delegate(ROLLOUT_ROLE, delegated.signed_bytes, delegated.signatures)

    return run


def per_call_ms(fn: Callable[[], None], rounds: int) -> float:
    fn()  # warm up
    t0 = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - t0) / rounds * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repository.init(Path(tmp) / "repo")
        run = check_verifications(repo)
        fast = per_call_ms(run, args.rounds * 10)
        saved = sslib_key.CRYPTO_IMPORT_ERROR
        sslib_key.CRYPTO_IMPORT_ERROR = "benchmark: pure-Python ed25519 fallback"
        try:
            slow = per_call_ms(run, args.rounds)
        finally:
            sslib_key.CRYPTO_IMPORT_ERROR = saved
    print(
        json.dumps(
            {
                "verifications_per_check": 5,
                "ms_per_check_cryptography": round(fast, 3),
                "ms_per_check_pure_python": round(slow, 3),
                "ratio": round(slow / fast, 1),
                "rounds": {"cryptography": args.rounds * 10, "pure_python": args.rounds},
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
