"""The CLI's side of `GET /v1/fleet`: fetch the report from a running server."""

from __future__ import annotations

import httpx

from litefleet.errors import UserError
from litefleet.registry.fleet import FleetReport


def fetch_fleet(server: str, timeout: float = 10.0) -> FleetReport:
    """`GET /v1/fleet`; a server that cannot be reached is one clear UserError."""
    try:
        resp = httpx.get(f"{server.rstrip('/')}/v1/fleet", timeout=timeout)
        resp.raise_for_status()
    except httpx.HTTPError as exc:
        raise UserError(f"cannot read the fleet from {server}: {exc}") from exc
    return FleetReport.model_validate_json(resp.content)
