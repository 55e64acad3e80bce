"""`litefleet deploy nginx|postgres|mosquitto`: the parts of the fleet topology
(docs/deploy.md, docs/push.md)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    deploy_app = typer.Typer(
        help="The parts of a fleet server: nginx in front of API workers, PostgreSQL."
    )
    app.add_typer(deploy_app, name="deploy")

    @deploy_app.command("nginx")
    def deploy_nginx(
        repo: Path = typer.Argument(..., help="The repository folder nginx serves."),
        listen: str = typer.Option("127.0.0.1:8080", "--listen", help="HOST:PORT for devices."),
        operator_listen: str = typer.Option(
            "127.0.0.1:8081",
            "--operator-listen",
            help="HOST:PORT for operators (console, fleet, halts, metrics); keep it private.",
        ),
        api: str = typer.Option(
            "http://127.0.0.1:8000", "--api", help="URL of `litefleet serve --workers N`."
        ),
        out: Path = typer.Option(
            Path("nginx"), "--out", help="nginx prefix folder: nginx.conf, logs/, tmp/."
        ),
        user: str | None = typer.Option(
            None, "--user", help="Worker user when nginx is started as root."
        ),
        connections: int = typer.Option(8192, min=64, max=1_000_000, help="Per nginx worker."),
        access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
    ) -> None:
        """Write an nginx.conf that serves metadata/ and targets/ from disk and proxies /v1/."""
        from litefleet.registry.deploy import NginxSite, default_user, write_nginx

        if user is None:
            user = default_user(repo)
            if user:
                typer.echo(
                    f"nginx runs its workers as {user!r} (the repository's owner; --user to"
                    " choose another that can read it)",
                    err=True,
                )
        conf = write_nginx(
            NginxSite(
                repo=repo,
                listen=listen,
                operator_listen=operator_listen,
                api=api,
                prefix=out,
                user=user,
                worker_connections=connections,
                access_log=access_log,
            )
        )
        prefix = conf.parent
        if not _loopback(operator_listen):
            typer.secho(
                f"WARNING: the operator listener {operator_listen} is not on loopback: keep it"
                " off the devices' network (firewall, VPN)",
                err=True,
                fg="red",
            )
        typer.echo(f"wrote {conf}")
        typer.echo(f"devices:   http://{listen}  (metadata, targets, events, healthz)")
        typer.echo(f"operators: http://{operator_listen}  (console, fleet, halts, metrics)")
        errors = prefix / "logs" / "error.log"
        typer.echo(f"start:  nginx -p {prefix} -c {conf} -e {errors}")
        typer.echo(f"reload: nginx -p {prefix} -c {conf} -e {errors} -s reload")

    @deploy_app.command("mosquitto")
    def deploy_mosquitto(
        repo: Path = typer.Argument(..., help="The repository (its keys/ hold device accounts)."),
        listen: str = typer.Option("127.0.0.1:1883", "--listen", help="HOST:PORT for devices."),
        out: Path = typer.Option(
            Path("mosquitto"), "--out", help="Folder for mosquitto.conf, passwd, acl."
        ),
        user: str | None = typer.Option(
            None, "--user", help="Account mosquitto drops to when started as root."
        ),
    ) -> None:
        """Write the push broker's config: per-device accounts, ACLs, the server's publisher."""
        from litefleet.registry.mosquitto import MosquittoSite, write_mosquitto
        from litefleet.registry.repository import Repository

        keys = Repository(repo).keys.path
        conf = write_mosquitto(MosquittoSite(keys_dir=keys, out=out, listen=listen, user=user))
        typer.echo(f"wrote {conf} (server publisher account: {keys / 'push.json'})")
        typer.echo(f"start:  mosquitto -c {conf}")
        typer.echo("after enrolling devices: run this again, then kill -HUP the broker")

    @deploy_app.command("postgres")
    def deploy_postgres(
        folder: Path = typer.Argument(..., help="Folder of the cluster (made if missing)."),
        port: int | None = typer.Option(
            None, "--port", min=1, max=65535, help="Port on 127.0.0.1 (default: a free one)."
        ),
        role: str = typer.Option("litefleet", "--role", help="Login role the server uses."),
        database: str = typer.Option("litefleet", "--database", help="Database it owns."),
        stop: bool = typer.Option(False, "--stop", help="Stop the cluster in FOLDER."),
    ) -> None:
        """Make and start a PostgreSQL cluster for `litefleet serve`; print its URL.

        The URL (password included) is the only line on stdout and is kept in FOLDER/url
        (mode 0600): `litefleet serve REPO --db "$(cat FOLDER/url)"`. Run again to start
        a stopped cluster; --stop stops it.
        """
        from litefleet.registry.postgres import prepare_cluster, stop_cluster

        if stop:
            was = stop_cluster(folder)
            typer.echo(f"PostgreSQL in {folder}: {'stopped' if was else 'was not running'}")
            return
        cluster = prepare_cluster(folder, port=port, role=role, database=database)
        state = (
            "made and started"
            if cluster.created
            else ("started" if cluster.started else "already running")
        )
        typer.echo(
            f"PostgreSQL in {cluster.folder}: {state}, on 127.0.0.1 only; "
            f"URL also in {cluster.folder / 'url'} (mode 0600)",
            err=True,
        )
        typer.echo(cluster.url)


def _loopback(listen: str) -> bool:
    import ipaddress

    host = listen.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
