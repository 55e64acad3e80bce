"""`litefleet deploy nginx`: the nginx configuration of the fleet topology.

nginx serves the signed TUF tree (`metadata/`, `targets/`) straight from the repository
folder and proxies the API (`/v1/`, `/metrics`, `/healthz`) to `litefleet serve --workers N`.
Devices keep one server URL. The file runs unprivileged (`nginx -p DIR -c DIR/nginx.conf`:
pid, logs and temp folders under DIR) and answers like the Python server does:

- content types: `.json` application/json, everything else application/octet-stream;
- `Cache-Control: no-cache` for the two files replaced in place (`timestamp.json`,
  `root.json`), `public, max-age=31536000, immutable` for every other file (versioned
  metadata, hash-named targets);
- ETag / If-None-Match (304), Range (206) for resumable downloads, hidden files (`.x.tmp`
  while a write is in flight) and anything outside the two folders: 404;
- `/v1/devices/…` limited per device path (`limit_req`, 429), one budget across all workers.

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
    """HOST:PORT nginx listens on (what devices use as `--server`)."""
    api: str
    """URL of the API workers, e.g. http://127.0.0.1:8000."""
    prefix: Path
    """nginx's prefix folder: nginx.conf, logs/, tmp/, nginx.pid."""
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
    sendfile on;
    tcp_nopush on;
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

    server {{
        listen {listen} backlog=4096;
        root {repo};

        # a write in flight (.name.tmp), the lock, keys, the database: never served
        location ~ /\\. {{ return 404; }}

        # replaced in place: clients must revalidate (ETag), never use a stale copy
        location = /metadata/timestamp.json {{
            add_header Cache-Control "no-cache" always;
        }}
        location = /metadata/root.json {{
            add_header Cache-Control "no-cache" always;
        }}
        # versioned metadata and hash-named targets never change once written
        location /metadata/ {{
            add_header Cache-Control "{IMMUTABLE}" always;
            open_file_cache max=10000 inactive=60s;
        }}
        location /targets/ {{
            add_header Cache-Control "{IMMUTABLE}" always;
            open_file_cache max=10000 inactive=60s;
        }}

        location /v1/devices/ {{
            limit_req zone=litefleet_devices burst={site.device_burst} nodelay;
            client_max_body_size {site.max_body};
            proxy_pass http://litefleet_api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
        location /v1/ {{
            proxy_pass http://litefleet_api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
        location = /metrics {{
            proxy_pass http://litefleet_api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location = /healthz {{
            proxy_pass http://litefleet_api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location / {{ return 404; }}
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
