"""`litefleet deploy nginx|mosquitto`: write the configuration of the fleet topology
(docs/deploy.md, docs/push.md)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    deploy_app = typer.Typer(help="Configuration for a fleet: nginx in front of API workers.")
    app.add_typer(deploy_app, name="deploy")

    @deploy_app.command("nginx")
    def deploy_nginx(
        repo: Path = typer.Argument(..., help="The repository folder nginx serves."),
        listen: str = typer.Option("127.0.0.1:8080", "--listen", help="HOST:PORT for devices."),
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
        from litefleet.registry.deploy import NginxSite, write_nginx

        conf = write_nginx(
            NginxSite(
                repo=repo,
                listen=listen,
                api=api,
                prefix=out,
                user=user,
                worker_connections=connections,
                access_log=access_log,
            )
        )
        prefix = conf.parent
        typer.echo(f"wrote {conf}")
        typer.echo(f"start:  nginx -p {prefix} -c {conf}")
        typer.echo(f"reload: nginx -p {prefix} -c {conf} -s reload")

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
