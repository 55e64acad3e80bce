"""`litefleet deploy mosquitto`: the broker of the push channel (Mosquitto 2, Debian package).

Writes three files into one folder and the server's publisher account into `KEYS/push.json`:

- `mosquitto.conf`: one listener (127.0.0.1:1883 by default), no anonymous clients, no
  persistence (a nudge is worth nothing later: every device checks fully at reconnect);
- `passwd`: one account per enrolled device (user = device id, password derived from its
  telemetry token, `litefleet.nudge.mqtt_password`) and the server's publisher account,
  as PBKDF2-SHA512 hashes (`$7$`, the format `mosquitto_passwd` writes);
- `acl`: a device reads `litefleet/model/+` and `litefleet/device/<its id>` and may publish
  nothing; only the server's account may publish (under `litefleet/`).

Device accounts come from `KEYS/mqtt-accounts.json` (device id -> hash), which
`DeviceTokens.issue` keeps in step with the tokens (the token itself is never stored).
After enrolling devices, run the command again and reload the broker (`kill -HUP`).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from litefleet.errors import UserError
from litefleet.lock import FileLock
from litefleet.nudge import TOPIC_ROOT, mosquitto_hash, mqtt_password
from litefleet.registry.keys import make_private_dir, write_private_file
from litefleet.registry.push import PushSettings

ACCOUNTS_FILE = "mqtt-accounts.json"
SERVER_USER = "litefleet-server"
"""The publisher account; never a valid device id (tokens.DEVICE_ID_RE allows it, so
enrolling a device by this name is refused here)."""


class MqttAccounts:
    """Device id -> broker password hash, beside the token file (mode 0600)."""

    def __init__(self, keys_dir: Path) -> None:
        self.dir = Path(keys_dir)
        self.path = self.dir / ACCOUNTS_FILE

    def read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return {str(k): str(v) for k, v in data.items()}

    def set_tokens(self, issued: dict[str, str]) -> None:
        """Record the broker accounts of freshly issued tokens (device id -> token)."""
        if SERVER_USER in issued:
            raise UserError(f"device id {SERVER_USER!r} is reserved for the server")
        with self._locked():
            accounts = self.read()
            accounts.update({d: mosquitto_hash(mqtt_password(t)) for d, t in issued.items()})
            self._write(accounts)

    def drop(self, device_id: str) -> None:
        with self._locked():
            accounts = self.read()
            if accounts.pop(device_id, None) is not None:
                self._write(accounts)

    def _write(self, accounts: dict[str, str]) -> None:
        write_private_file(self.path, json.dumps(accounts, indent=0).encode())

    def _locked(self):
        make_private_dir(self.dir)
        return FileLock(self.dir / ".mqtt-accounts.lock")


@dataclass(frozen=True)
class MosquittoSite:
    keys_dir: Path
    """The repository's online keys folder (device accounts in, publisher account out)."""
    out: Path
    """Folder for mosquitto.conf, passwd, acl."""
    listen: str = "127.0.0.1:1883"
    user: str | None = None
    """`user` directive: the account mosquitto drops to when started as root (the files
    are given to it when written as root)."""
    max_connections: int = -1


def _split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--listen must look like HOST:PORT, not {listen!r}")
    return host, int(port)


def acl_text() -> str:
    return (
        "# litefleet push channel (written by `litefleet deploy mosquitto`)\n"
        "# every device: read its model topics and its own topic, publish nothing\n"
        "# (mosquitto warns that the first pattern names no %u: intended, every device\n"
        "# reads the model topics, which say no more than the public metadata/)\n"
        f"pattern read {TOPIC_ROOT}/model/+\n"
        f"pattern read {TOPIC_ROOT}/device/%u\n"
        "\n"
        f"user {SERVER_USER}\n"
        f"topic write {TOPIC_ROOT}/#\n"
    )


def config_text(site: MosquittoSite, passwd: Path, acl: Path) -> str:
    host, port = _split_listen(site.listen)
    lines = [
        "# litefleet push channel (written by `litefleet deploy mosquitto`)",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {passwd}",
        f"acl_file {acl}",
        "persistence false",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages false",
        "max_queued_messages 10",
        "max_inflight_messages 10",
        f"listener {port} {host}",
        f"max_connections {site.max_connections}",
    ]
    if site.user:
        lines.insert(1, f"user {site.user}")
    return "\n".join(lines) + "\n"


def write_mosquitto(site: MosquittoSite) -> Path:
    """Write the broker's files and the server's publisher account; return mosquitto.conf."""
    host, port = _split_listen(site.listen)
    out = Path(site.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    known = PushSettings.load(site.keys_dir)
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "*") else host
    settings = PushSettings(
        broker=f"mqtt://{local}:{port}",
        username=SERVER_USER,
        password=known.password if known else secrets.token_urlsafe(32),
    )
    settings.save(site.keys_dir)
    accounts = MqttAccounts(site.keys_dir).read()
    accounts[SERVER_USER] = mosquitto_hash(settings.password)
    passwd, acl, conf = out / "passwd", out / "acl", out / "mosquitto.conf"
    write_private_file(passwd, "".join(f"{u}:{h}\n" for u, h in sorted(accounts.items())).encode())
    acl.write_text(acl_text())
    conf.write_text(config_text(site, passwd, acl))
    if site.user and site.user != "root" and os.geteuid() == 0:
        _give_to(site.user, passwd, acl, conf)  # mosquitto reads them after dropping to it
    return conf


def _give_to(user: str, *paths: Path) -> None:
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise UserError(f"--user {user!r}: no such account on this machine") from None
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)
