"""Per-device telemetry tokens: every bearer token is bound to exactly one device id.

`litefleet repo token REPO --device ID` issues a random token for one device and stores only
its sha256 with the device id in `KEYS/tokens.json` (mode 0600, in the online keys folder the
server reads). The server answers a report for `/v1/devices/{id}/events` with:

- 401 when the token is missing or unknown (or revoked: issuing a new token for a device
  replaces its old one);
- 403 when the token is valid but belongs to another device: one device (or one leaked
  token) can never speak for the rest of the fleet.

Device groups (tags) live beside each device's token hash: given at enrollment
(`repo token --device ID --tag camera --tag eu`) or set later by an operator (`repo tag`,
the console). A new token for a device keeps its tags unless new ones are given.

There is no fleet-wide token any more: a token file written by an older version (hash ->
label, bound to nobody) is read as "no device", so those tokens are refused (401).

    book = DeviceTokens(keys_dir)
    token = book.issue("cam-17")
    assert book.device_of(token) == "cam-17"
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from litefleet.errors import UserError
from litefleet.lock import FileLock
from litefleet.registry.keys import make_private_dir, write_private_file
from litefleet.registry.mosquitto import MqttAccounts

TOKENS_FILE = "tokens.json"
DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
"""What a device id may be: also a URL path segment and a database key, so kept plain."""
TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_TAGS = 16


def check_tags(tags: Iterable[str]) -> list[str]:
    """Sorted, unique, valid tags, or one UserError naming the bad one."""
    out = sorted(set(tags))
    for tag in out:
        if not TAG_RE.match(tag):
            raise UserError(f"tag {tag[:80]!r}: 1-64 characters of A-Z a-z 0-9 . _ -")
    if len(out) > MAX_TAGS:
        raise UserError(f"at most {MAX_TAGS} tags per device, not {len(out)}")
    return out


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class DeviceTokens:
    """The token file of one repository: issue, revoke, and look up the device of a token."""

    def __init__(self, keys_dir: Path) -> None:
        self.dir = Path(keys_dir)
        self.path = self.dir / TOKENS_FILE

    def issue(self, device_id: str, label: str = "", tags: Iterable[str] | None = None) -> str:
        """A fresh token for `device_id`; any earlier token of that device stops working."""
        return self.issue_many([device_id], label, tags)[device_id]

    def issue_many(
        self, device_ids: Iterable[str], label: str = "", tags: Iterable[str] | None = None
    ) -> dict[str, str]:
        """Tokens for many devices in one write (enrolling a whole fleet)."""
        ids = list(dict.fromkeys(device_ids))
        for device_id in ids:
            if not DEVICE_ID_RE.match(device_id):
                raise UserError(
                    f"device id {device_id[:140]!r}: 1-128 characters of A-Z a-z 0-9 . _ : -"
                )
        new_tags = None if tags is None else check_tags(tags)
        issued = {d: secrets.token_urlsafe(32) for d in ids}
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        with self._locked():
            old = self._read()
            kept_tags = {e.get("device"): e.get("tags", []) for e in old.values()}
            entries = {h: e for h, e in old.items() if e.get("device") not in issued}
            for device_id, token in issued.items():
                entries[token_hash(token)] = {
                    "device": device_id,
                    "label": label,
                    "issued": now,
                    "tags": new_tags if new_tags is not None else kept_tags.get(device_id, []),
                }
            self._write(entries)
        MqttAccounts(self.dir).set_tokens(issued)  # the push broker's accounts (issue 23)
        return issued

    def set_tags(self, device_id: str, tags: Iterable[str]) -> list[str]:
        """Replace an enrolled device's tags; UserError for a device never enrolled."""
        clean = check_tags(tags)
        with self._locked():
            entries = self._read()
            mine = [e for e in entries.values() if e.get("device") == device_id]
            if not mine:
                raise UserError(f"device {device_id!r} is not enrolled (repo token --device)")
            for e in mine:
                e["tags"] = clean
            self._write(entries)
        return clean

    def tags_by_device(self) -> dict[str, list[str]]:
        """Every enrolled device -> its tags (possibly none)."""
        return {
            e["device"]: list(e.get("tags", [])) for e in self._read().values() if "device" in e
        }

    def members(self, tags: Iterable[str]) -> dict[str, list[str]]:
        """tag -> enrolled devices carrying it, for each of `tags`."""
        wanted = set(tags)
        out: dict[str, list[str]] = {t: [] for t in wanted}
        for device, device_tags in self.tags_by_device().items():
            for t in wanted.intersection(device_tags):
                out[t].append(device)
        return out

    def revoke(self, device_id: str) -> int:
        """Remove every token of `device_id`; return how many there were."""
        with self._locked():
            entries = self._read()
            kept = {h: e for h, e in entries.items() if e.get("device") != device_id}
            self._write(kept)
        MqttAccounts(self.dir).drop(device_id)
        return len(entries) - len(kept)

    def by_hash(self) -> dict[str, str]:
        """sha256(token) -> device id, for every token bound to a device."""
        return {h: e["device"] for h, e in self._read().items() if isinstance(e, dict)}

    def device_of(self, token: str) -> str | None:
        return self.by_hash().get(token_hash(token))

    def stamp(self) -> int | None:
        """Changes whenever the file is rewritten (a server re-reads it then, no restart)."""
        try:
            return self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    # ------------------------------------------------------------------ file

    def _read(self) -> dict[str, dict]:
        if not self.path.exists():
            return {}
        raw = json.loads(self.path.read_text())
        tokens = raw.get("tokens", {}) if raw.get("schema") == 2 else {}
        return {h: e for h, e in tokens.items() if isinstance(e, dict)}

    def _write(self, entries: dict[str, dict]) -> None:
        data = json.dumps({"schema": 2, "tokens": entries}, indent=0).encode()
        write_private_file(self.path, data)

    def _locked(self):
        make_private_dir(self.dir)
        # two `repo token` commands at once never lose each other's tokens
        return FileLock(self.dir / ".tokens.lock")


class TokenIndex:
    """The server's view of the token file, re-read when it changes."""

    def __init__(self, tokens: DeviceTokens) -> None:
        self.tokens = tokens
        self._stamp: int | None = -1
        self._by_hash: dict[str, str] = {}

    def device_of(self, header: str | None) -> str | None:
        """The device a `Bearer` header's token belongs to, or None."""
        if not header or not header.startswith("Bearer "):
            return None
        stamp = self.tokens.stamp()
        if stamp != self._stamp:
            self._by_hash, self._stamp = self.tokens.by_hash(), stamp
        # a dict lookup on the sha256 of a 256-bit random secret: timing reveals nothing
        # an attacker can use (they would need a preimage of a stored hash)
        return self._by_hash.get(token_hash(header.removeprefix("Bearer ").strip()))
