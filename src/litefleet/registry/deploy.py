"""`litefleet deploy nginx`: the nginx configuration of the fleet topology.

Two listeners, so nothing an operator uses is reachable from where devices connect:

- the **devices' listener** (`listen`, public) serves only what a device needs: the signed
  TUF tree (`/metadata/`, `/targets/`) straight from the repository folder, `POST
  /v1/devices/{id}/events` (proxied to the API workers, limited per device path with
  `limit_req`, 429, one budget across all workers) and `/healthz`; anything else is 404;
- the **operator listener** (`operator_listen`, 127.0.0.1:8081 by default) proxies
  everything to the API: the console (`/`, `/console/`), `/v1/fleet`, `/v1/halts`,
  `/v1/operator/`, `/metrics`. Reach it over SSH or a VPN, never from the devices' network.

The file runs unprivileged (`nginx -p DIR -c DIR/nginx.conf`: pid, logs and temp folders
under DIR) and answers like the Python server does:

- content types: `.json` application/json, everything else application/octet-stream;
- `Cache-Control: no-cache` for the two files replaced in place (`timestamp.json`,
  `root.json`), `public, max-age=31536000, immutable` for every other file (versioned
  metadata, hash-named targets);
- ETag / If-None-Match (304), Range (206) for resumable downloads, hidden files (`.x.tmp`
  while a write is in flight) and anything outside the two folders: 404.

Two choices measured with `benchmarks/bench_nginx.py`: metadata (a few KB) is read into a
buffer (`sendfile off`), which served full `timestamp.json` responses at 0.64–0.83× of a
bare nginx with `sendfile on` + `tcp_nopush`; models keep `sendfile`. A missing
metadata file is an ordinary answer, not an error: python-tuf asks for `N+1.root.json` on
every refresh, so `/metadata/` does not log "not found" (`log_not_found off`).

nginx reads a replaced `timestamp.json` through the descriptor it opened, so a response is
always one whole file, as with the Python server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from litefleet.errors import UserError
from litefleet.registry.staticfiles import IMMUTABLE


@dataclass(frozen=True)
class NginxSite:
    repo: Path
    listen: str
    """HOST:PORT of the devices' listener (what devices use as `--server`)."""
    api: str
    """URL of the API workers, e.g. http://127.0.0.1:8000."""
    prefix: Path
    """nginx's prefix folder: nginx.conf, logs/, tmp/, nginx.pid."""
    operator_listen: str = "127.0.0.1:8081"
    """HOST:PORT of the operator listener (console, fleet, halts, metrics): loopback by
    default, reached over SSH or a VPN."""
    user: str | None = None
    """`user` directive, only meaningful when nginx is started as root."""
    worker_connections: int = 8192
    device_rate: float = 2.0
    device_burst: int = 30
    max_body: str = "256k"
    access_log: bool = False


def _api_upstream(api: str) -> str:
    parts = urlsplit(api)
    if parts.scheme != "http" or not parts.hostname or not parts.port:
        raise UserError(f"--api must look like http://HOST:PORT, not {api!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port}"


def _listen(listen: str) -> str:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--listen must look like HOST:PORT, not {listen!r}")
    return listen


def default_user(repo: Path) -> str | None:
    """The `user` nginx's workers need when started as root: the repository's owner (they
    must read it); None when not root (nginx cannot switch users then)."""
    import os
    import pwd

    if os.geteuid() != 0 or not Path(repo).exists():
        return None
    return pwd.getpwuid(Path(repo).stat().st_uid).pw_name


def nginx_config(site: NginxSite) -> str:
    """The whole nginx.conf for `site`."""
    repo = site.repo.resolve()
    if not (repo / "metadata" / "root.json").is_file():
        raise UserError(f"{site.repo} is not a litefleet repository")
    prefix = site.prefix.resolve()
    upstream = _api_upstream(site.api)
    listen = _listen(site.listen)
    user = f"user {site.user};\n" if site.user else ""
    access = f"access_log {prefix}/logs/access.log;" if site.access_log else "access_log off;"
    rate = f"{max(1, round(site.device_rate * 60))}r/m"
    operator = _listen(site.operator_listen)
    if operator.rpartition(":")[2] == listen.rpartition(":")[2]:
        raise UserError("--operator-listen needs its own port, not the devices' one")
    proxy = """proxy_pass http://litefleet_api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;"""
    return f"""# written by `litefleet deploy nginx`; run: nginx -p {prefix} -c {prefix}/nginx.conf
{user}worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
worker_rlimit_nofile {2 * site.worker_connections + 1024};

events {{
    worker_connections {site.worker_connections};
}}

http {{
    types {{
        application/json json;
        application/octet-stream tflite npz patch;
    }}
    default_type application/octet-stream;
    charset off;
    server_tokens off;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 100000;
    etag on;
    {access}
    client_body_temp_path {prefix}/tmp/client_body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;

    # one telemetry budget per device path, shared by every API worker behind
    limit_req_zone $uri zone=litefleet_devices:20m rate={rate};
    limit_req_status 429;

    upstream litefleet_api {{
        server {upstream};
        keepalive 64;
        # below uvicorn's 5 s: nginx drops an idle connection before the worker does, so a
        # request is never sent on a connection the worker is closing (a 502)
        keepalive_timeout 4s;
    }}

    # the devices' listener: the signed tree, the device's own reports, liveness; no more
    server {{
        listen {listen} backlog=4096;
        root {repo};

        # a write in flight (.name.tmp), the lock, keys, the database: never served
        location ~ /\\. {{ return 404; }}

        # metadata is a few KB: a buffered read answers faster than sendfile + tcp_nopush
        # (bench_nginx.py); a missing file is an ordinary poll (python-tuf asks for the
        # next root.json on every refresh), not an error worth a log line
        # replaced in place: clients must revalidate (ETag), never use a stale copy
        location = /metadata/timestamp.json {{
            add_header Cache-Control "no-cache" always;
            sendfile off;
        }}
        location = /metadata/root.json {{
            add_header Cache-Control "no-cache" always;
            sendfile off;
        }}
        # versioned metadata and hash-named targets never change once written
        location /metadata/ {{
            add_header Cache-Control "{IMMUTABLE}" always;
            sendfile off;
            log_not_found off;
            open_file_cache max=10000 inactive=60s;
        }}
        location /targets/ {{
            add_header Cache-Control "{IMMUTABLE}" always;
            sendfile on;
            tcp_nopush on;
            open_file_cache max=10000 inactive=60s;
        }}

        location ~ ^/v1/devices/[^/]+/events$ {{
            limit_except POST {{ deny all; }}
            limit_req zone=litefleet_devices burst={site.device_burst} nodelay;
            client_max_body_size {site.max_body};
            {proxy}
        }}
        location = /healthz {{
            {proxy}
        }}
        location / {{ return 404; }}
    }}

    # the operator listener: console, fleet, halts, operator API, metrics (loopback by
    # default: an operator comes over SSH or a VPN, a device never reaches it)
    server {{
        listen {operator};
        client_max_body_size 1m;
        location / {{
            {proxy}
        }}
    }}
}}
"""


def write_nginx(site: NginxSite) -> Path:
    """Write `prefix/nginx.conf` and the folders nginx needs; return the file."""
    text = nginx_config(site)
    prefix = site.prefix.resolve()
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    return conf
