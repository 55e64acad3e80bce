"""The CLI's side of `GET /v1/fleet`: fetch the report from a running server."""

from __future__ import annotations

import httpx

from litefleet.errors import UserError
from litefleet.neterrors import cause
from litefleet.registry.fleet import FleetReport

WHERE = (
    "give the server's URL with --server: `litefleet serve` (port 8080 by default) or, behind"
    " nginx, its operator listener (127.0.0.1:8081 by default)"
)


def fetch_fleet(
    server: str, timeout: float = 10.0, token: str | None = None, tag: str | None = None
) -> FleetReport:
    """`GET /v1/fleet` with an operator's token; a server that cannot be reached, that has
    no fleet view, or that refuses the token, is one clear UserError."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    params = {"tag": tag} if tag else {}
    try:
        resp = httpx.get(
            f"{server.rstrip('/')}/v1/fleet", timeout=timeout, headers=headers, params=params
        )
    except httpx.HTTPError as exc:
        raise UserError(f"cannot read the fleet from {server}: {cause(exc)}; {WHERE}") from exc
    if resp.status_code in (401, 403):
        raise UserError(
            f"{server} refused the request ({resp.status_code}): give an operator token "
            "(--token or LITEFLEET_OPERATOR_TOKEN; `litefleet repo operator add` makes one)"
        )
    if resp.status_code == 404:
        raise UserError(
            f"{server} has no fleet view (HTTP 404): nginx's devices' listener serves no"
            f" operator path; {WHERE}"
        )
    if resp.status_code != 200:
        raise UserError(f"cannot read the fleet from {server}: HTTP {resp.status_code}")
    return FleetReport.model_validate_json(resp.content)
