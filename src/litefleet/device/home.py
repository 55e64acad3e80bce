"""Create a device home: settings, the shipped trusted root, an empty store.

Everything is checked before anything is written: the settings (pydantic, one line per bad
key), the root (TUF root metadata, signed by its own threshold of root keys), and that the
folder is not already a device home (re-initialising would silently swap the device id,
token and trusted root under an installed model: it takes `force=True`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from litefleet.device.config import CONFIG, AgentConfig, default_device_id, save_config
from litefleet.device.store import ModelStore
from litefleet.device.tuf_client import (
    ReleaseSource,
    UnreachableError,
    VerificationError,
    install_root,
)
from litefleet.errors import UserError


def init_home(
    home: Path,
    *,
    server: str,
    root: Path,
    model: str,
    device_id: str | None = None,
    force: bool = False,
    contact_server: bool = False,
    **settings: Any,
) -> AgentConfig:
    """Write `HOME/config.json`, copy the trusted `root.json` to `HOME/tuf/`.

    `contact_server` (what `agent init` does unless `--offline`): before writing, refresh
    the signed metadata from `server` with `root` and find `model`'s release index there
    (`check_server`), so a wrong URL, root or model name fails now, not at the first check.

    Raises:
        UserError: invalid settings, a root file that is not valid self-signed root
            metadata, a home that already has a config (unless `force`), or with
            `contact_server`, a server that cannot be reached, does not verify with the
            root, or has no such model.
    """
    from litefleet.device.config import validate_config

    home = Path(home)
    if (home / CONFIG).exists() and not force:
        raise UserError(
            f"{home} is already a device home; use --force to replace its settings"
            " (device id, token, trusted root); installed versions are kept"
        )
    config = validate_config(
        {
            "server": server.rstrip("/"),
            "model": model,
            "device_id": device_id or default_device_id(),
            **{k: v for k, v in settings.items() if v is not None},
        }
    )
    check_root(Path(root))
    if contact_server:
        check_server(config.server, Path(root), model)
    home.mkdir(parents=True, exist_ok=True)
    install_root(home, Path(root))
    save_config(home, config)
    ModelStore(home, keep=config.keep)
    return config


def check_root(path: Path) -> None:
    """`path` must be TUF root metadata whose own root keys sign it (threshold met)."""
    from tuf.api.exceptions import UnsignedMetadataError
    from tuf.api.metadata import Metadata, Root

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"root metadata not found: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read root metadata {path}: {exc.strerror or exc}") from None
    try:
        md = Metadata.from_bytes(data)
    except Exception as exc:
        raise UserError(f"{path} is not TUF metadata: {exc}") from None
    if not isinstance(md.signed, Root):
        raise UserError(f"{path} is {md.signed.type} metadata, not root (use metadata/1.root.json)")
    try:
        md.signed.verify_delegate(Root.type, md.signed_bytes, md.signatures)
    except UnsignedMetadataError as exc:
        raise UserError(f"{path}: root signatures do not verify: {exc}") from None


def check_server(server: str, root: Path, model: str, timeout: float = 10.0) -> None:
    """Contact `server` as the device will: refresh the TUF metadata from `root` (in a
    temporary folder, nothing kept) and read `model`'s signed release index.

    Raises:
        UserError: one line naming the server and what failed (unreachable, metadata that
            does not verify with this root, or no such model, with the models it has).
    """
    with tempfile.TemporaryDirectory(prefix="litefleet-init-") as tmp:
        install_root(Path(tmp), root)
        source = ReleaseSource(
            Path(tmp), server, model, timeout=int(timeout), metadata_deadline_s=3 * timeout
        )
        try:
            with source.session() as session:
                session.index()
        except UnreachableError as exc:
            raise UserError(
                f"cannot reach {server}: {exc} (check --server; --offline writes the home"
                " without contacting the server)"
            ) from None
        except VerificationError as exc:
            raise UserError(f"{server}: {exc}") from None
