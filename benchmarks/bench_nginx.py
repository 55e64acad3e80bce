"""The devices' listener of `litefleet deploy nginx` against a bare nginx on the same files (JSON).

    python benchmarks/bench_nginx.py [--rounds 7] [--seconds 3] [--connections 32]

Three nginx servers on one repository folder, each on its own loopback port:

- `ours`: the file `deploy nginx` writes today (metadata read into a buffer, `sendfile off`);
- `sendfile_on`: the same file with the metadata locations as they were before issue 21
  (`sendfile on`, `tcp_nopush on`), to show what the change bought;
- `plain`: nginx with nothing but `root` (the baseline a user would set up by hand).

`wrk` (native: the generator is not the limit; `apt-get install wrk`) sends one kind of
request per round, keep-alive, alternating between the servers round by round so that each
sees the same machine state: full `timestamp.json` (200: every device after each new
timestamp), the same with `If-None-Match` (304: a device's usual poll), and a full
versioned `1.snapshot.json` (200, `immutable`). Reported: requests/s per round, medians,
`ours_vs_plain` and `sendfile_on_vs_plain` per kind (ratio of medians) and
`ours_vs_plain_paired` (median of the ratios within each round). Then a burst of polls
for the missing `2.root.json` (python-tuf asks for it on every refresh): error-log lines
each server wrote (`ours` must write none).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from bench_fleet import plain_nginx_conf, wrk
from litefleet.registry.deploy import NginxSite, write_nginx
from litefleet.registry.repository import Repository
from litefleet.testing.services import NginxServer, free_port

KINDS = {
    "timestamp_200": ("/metadata/timestamp.json", False),
    "timestamp_304": ("/metadata/timestamp.json", True),
    "snapshot_200": ("/metadata/1.snapshot.json", False),
}


def before_conf(ours: Path, port: int, prefix: Path) -> Path:
    """`ours` with the metadata served as before issue 21 (sendfile + tcp_nopush)."""
    text = ours.read_text().replace(str(ours.parent), str(prefix))
    text = text.replace(
        "\n            sendfile off;", "\n            sendfile on;\n            tcp_nopush on;"
    )
    listen = text.split("listen ", 1)[1].split(" ", 1)[0]
    text = text.replace(f"listen {listen} ", f"listen 127.0.0.1:{port} ", 1)
    ops = text.split("listen ")[2].split(";", 1)[0]
    text = text.replace(f"listen {ops};", f"listen 127.0.0.1:{free_port()};")
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    return conf


def etag_of(url: str) -> str:
    with urllib.request.urlopen(url) as r:
        return r.headers["ETag"]


def error_lines(log: Path) -> int:
    return sum(1 for line in log.read_text().splitlines() if "[error]" in line)


def missing_root_polls(url: str, n: int) -> None:
    for _ in range(n):
        try:
            urllib.request.urlopen(url + "/metadata/2.root.json").close()
        except urllib.error.HTTPError as exc:
            assert exc.code == 404, exc.code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
    tmp.chmod(0o755)
    user = "root" if os.geteuid() == 0 else None
    try:
        repo = Repository.init(tmp / "repo")
        ports = {name: free_port() for name in ("ours", "sendfile_on", "plain")}
        ours = write_nginx(
            NginxSite(
                repo=repo.path,
                listen=f"127.0.0.1:{ports['ours']}",
                operator_listen=f"127.0.0.1:{free_port()}",
                api=f"http://127.0.0.1:{free_port()}",  # static files only: no API needed
                prefix=tmp / "ours",
                user=user,
            )
        )
        confs = {
            "ours": ours,
            "sendfile_on": before_conf(ours, ports["sendfile_on"], tmp / "sendfile_on"),
            "plain": plain_nginx_conf(repo.path, ports["plain"], tmp / "plain", user),
        }
        with (
            NginxServer(confs["ours"], ports["ours"]) as a,
            NginxServer(confs["sendfile_on"], ports["sendfile_on"]) as b,
            NginxServer(confs["plain"], ports["plain"]) as c,
        ):
            servers = {"ours": a, "sendfile_on": b, "plain": c}
            rounds: dict[str, dict[str, list[dict]]] = {
                kind: {name: [] for name in servers} for kind in KINDS
            }
            for i in range(args.rounds):
                for kind, (path, conditional) in KINDS.items():
                    order = list(servers) if i % 2 == 0 else list(reversed(servers))
                    for name in order:
                        url = servers[name].url + path
                        etag = etag_of(url) if conditional else None
                        rounds[kind][name].append(wrk(url, etag, args.seconds, args.connections))
            polls = 200
            for server in servers.values():
                missing_root_polls(server.url, polls)
        result: dict[str, object] = {
            "tool": f"wrk -t2 -c{args.connections} -d{args.seconds:g}s, keep-alive, loopback",
            "rounds": args.rounds,
            "machine": {
                "cores": os.cpu_count(),
                "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
                "platform": platform.platform(),
            },
        }
        for kind in KINDS:
            per_s = {n: [r["requests_per_s"] for r in rs] for n, rs in rounds[kind].items()}
            median = {n: float(np.median(v)) for n, v in per_s.items()}
            result[kind] = {
                "per_round": {n: [round(x) for x in v] for n, v in per_s.items()},
                "median_per_s": {n: round(v) for n, v in median.items()},
                "errors": sum(r["errors"] for rs in rounds[kind].values() for r in rs),
                "ours_vs_plain": round(median["ours"] / median["plain"], 3),
                # the ratio within each round (same machine state), then the median
                "ours_vs_plain_paired": round(
                    float(np.median(np.array(per_s["ours"]) / np.array(per_s["plain"]))), 3
                ),
                "sendfile_on_vs_plain": round(median["sendfile_on"] / median["plain"], 3),
            }
        result["missing_root_polls"] = {
            "polls": polls,
            "error_log_lines": {
                n: error_lines(confs[n].parent / "logs" / "error.log") for n in confs
            },
        }
        print(json.dumps(result, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
