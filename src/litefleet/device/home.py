"""Create a device home: settings, the shipped trusted root, an empty store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litefleet.device.config import AgentConfig, default_device_id, save_config
from litefleet.device.store import ModelStore
from litefleet.device.tuf_client import install_root


def init_home(
    home: Path,
    *,
    server: str,
    root: Path,
    model: str,
    device_id: str | None = None,
    **settings: Any,
) -> AgentConfig:
    """Write `HOME/config.json`, copy the trusted `root.json` to `HOME/tuf/`.

    Re-running keeps the installed versions (it rewrites settings and the root only).
    """
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    config = AgentConfig(
        server=server.rstrip("/"),
        model=model,
        device_id=device_id or default_device_id(),
        **{k: v for k, v in settings.items() if v is not None},
    )
    install_root(home, Path(root))
    save_config(home, config)
    ModelStore(home, keep=config.keep)
    return config
