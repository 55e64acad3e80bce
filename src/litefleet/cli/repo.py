"""`litefleet repo …`, `publish`, `rollout`, `serve`, `fleet status`: the release side.

Thin wrappers: they parse options and call `litefleet.registry`, imported inside each
command so the rest of the CLI starts without the server dependencies.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import typer

from litefleet.errors import UserError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for value in values:
        role, sep, rest = value.partition("=")
        if not sep or not rest:
            raise UserError(f"{what} must look like ROLE=VALUE, not {value!r}")
        out[role] = rest
    return out


def _seconds(text: str) -> int:
    match = _DURATION.match(text)
    if not match:
        raise UserError(f"duration {text!r} must look like 30d, 12h, 90m or 3600s")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def _stages(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(p) for p in text.split(",")]
    except ValueError:
        raise UserError(f"--stages must look like 1,10,50,100, not {text!r}") from None


def register(app: typer.Typer) -> None:
    """Add the release-side commands to the `litefleet` app."""
    repo_app = typer.Typer(help="Create and maintain a signed (TUF) model repository.")
    fleet_app = typer.Typer(help="What the fleet runs, from a running update server.")
    app.add_typer(repo_app, name="repo")
    app.add_typer(fleet_app, name="fleet")

    @repo_app.command("init")
    def repo_init(
        repo: Path = typer.Argument(..., help="Folder to create (must be empty or absent)."),
        expiry: list[str] = typer.Option(
            [], "--expiry", help="ROLE=DURATION, e.g. timestamp=1d, targets=365d (repeatable)."
        ),
        threshold: list[str] = typer.Option(
            [], "--threshold", help="ROLE=N keys that must sign, e.g. root=2 (repeatable)."
        ),
        offline_keys: Path | None = typer.Option(
            None,
            "--offline-keys",
            help="Folder for the root and targets keys (default: REPO.offline-keys, "
            "next to the repository, never inside it).",
        ),
    ) -> None:
        """Create keys (0600; encrypted if LITEFLEET_KEY_PASSPHRASE is set) and version-1
        metadata for root, targets, snapshot, timestamp and the rollout role.

        Online keys (snapshot, timestamp, rollout) go to REPO/keys, which the server reads;
        offline keys (root, targets) to a separate folder the server never needs."""
        from litefleet.registry.keys import PASSPHRASE_ENV
        from litefleet.registry.repository import ALL_ROLES, RepoConfig, Repository

        config = RepoConfig()
        for role, text in _pairs(expiry, "--expiry").items():
            if role not in ALL_ROLES:
                raise UserError(f"unknown role {role!r}: one of {', '.join(ALL_ROLES)}")
            config.expiry[role] = _seconds(text)
        for role, text in _pairs(threshold, "--threshold").items():
            if role not in ALL_ROLES or not text.isdigit():
                raise UserError(f"--threshold {role}={text}: need a known role and an integer")
            config.thresholds[role] = int(text)
        if offline_keys is not None and offline_keys.resolve().is_relative_to(repo.resolve()):
            raise UserError("--offline-keys must be outside the repository folder")
        created = Repository.init(repo, config, offline_keys=offline_keys)
        offline = created.keys.base_dir("root")
        typer.echo(
            f"created repository {repo}\n"
            f"  online keys (the server needs them): {created.keys.path}\n"
            f"  offline keys (root, targets; keep them off the server): {offline}"
        )
        if os.environ.get(PASSPHRASE_ENV):
            typer.echo(f"  keys encrypted with the passphrase in {PASSPHRASE_ENV}")
        else:
            typer.echo(
                f"  keys NOT encrypted ({PASSPHRASE_ENV} is not set): whoever reads a key file"
                f" can sign with it; set {PASSPHRASE_ENV} before `repo init` to encrypt them"
            )

    @repo_app.command("expiry")
    def repo_expiry(
        repo: Path = typer.Argument(...),
        set_: list[str] = typer.Option(
            [], "--set", help="ROLE=DURATION, e.g. targets=90d, rollout=7d (repeatable)."
        ),
    ) -> None:
        """Show or change how long each role's metadata stays valid (applies at the next
        signature; recommended: targets 90d, rollout and snapshot 7d, timestamp 1d)."""
        from litefleet.registry.repository import RECOMMENDED_EXPIRY, Repository

        r = Repository(repo)
        if set_:
            r.set_expiry({role: _seconds(text) for role, text in _pairs(set_, "--set").items()})
        for role, seconds in r.config.expiry.items():
            advice = RECOMMENDED_EXPIRY.get(role)
            typer.echo(f"{role:10} {seconds / 86400:g} days (recommended {advice / 86400:g})")

    @repo_app.command("resign")
    def repo_resign(
        repo: Path = typer.Argument(...),
        role: str = typer.Argument(..., help="targets (needs its offline key), or an online role."),
    ) -> None:
        """Re-sign a role with a fresh expiry (targets must be, before it runs out)."""
        from litefleet.registry.repository import Repository

        version = Repository(repo).resign(role)
        typer.echo(f"{role} version {version}")

    @repo_app.command("refresh-timestamp")
    def repo_refresh_timestamp(repo: Path = typer.Argument(...)) -> None:
        """Re-sign timestamp.json with a new expiry (the server does it by itself)."""
        from litefleet.registry.repository import Repository

        version = Repository(repo).refresh_timestamp()
        typer.echo(f"timestamp version {version}")

    @repo_app.command("rotate-key")
    def repo_rotate_key(
        repo: Path = typer.Argument(...),
        role: str = typer.Argument(..., help="root, targets, snapshot, timestamp or rollout."),
    ) -> None:
        """Replace a role's keys; devices follow through the signed root chain."""
        from litefleet.registry.repository import Repository

        keyids = Repository(repo).rotate_key(role)
        typer.echo(f"{role}: new key {', '.join(k[:16] for k in keyids)}")

    @repo_app.command("floor")
    def repo_floor(
        repo: Path = typer.Argument(...),
        model: str = typer.Argument(..., help="Model name in the repository."),
        floor: float | None = typer.Argument(
            None, help="Golden accuracy every new release must reach (omit: show it)."
        ),
        tolerance: float | None = typer.Option(
            None, help="Accuracy a release may lose vs the previous good one."
        ),
    ) -> None:
        """Show or set a model's quality floor (kept in the repository, used by publish)."""
        from litefleet.registry.quality import read_policy, set_floor
        from litefleet.registry.repository import Repository

        r = Repository(repo)
        if floor is None and tolerance is None:
            p = read_policy(r, model)
        else:
            p = set_floor(r, model, floor, tolerance)
        shown = "not set (the first publish sets it)" if p.floor is None else f"{p.floor:.3f}"
        by = f" (set by {p.set_by}, {p.updated})" if p.set_by else ""
        typer.echo(f"{model}: floor {shown}{by}, tolerance {p.tolerance:.3f}")

    @repo_app.command("migrate")
    def repo_migrate(repo: Path = typer.Argument(...)) -> None:
        """Convert every model's signed index to release format 2 (needs the targets key)."""
        from litefleet.registry.migrate import migrate
        from litefleet.registry.repository import Repository

        done = migrate(Repository(repo))
        if not done:
            typer.echo("nothing to migrate: every release index is already format 2")
        for line in done:
            typer.echo(line)

    @repo_app.command("token")
    def repo_token(
        repo: Path = typer.Argument(...),
        device: list[str] = typer.Option(
            [], "--device", help="Device id the token is bound to (repeatable)."
        ),
        devices_file: Path | None = typer.Option(
            None, "--devices-file", help="A file of device ids, one a line (a whole fleet)."
        ),
        revoke: bool = typer.Option(False, "--revoke", help="Revoke the devices' tokens."),
        label: str = typer.Option("", help="A note stored next to the token's hash."),
        tag: list[str] = typer.Option(
            [], "--tag", help="Device group, e.g. camera, eu (repeatable; default: keep)."
        ),
    ) -> None:
        """Issue a telemetry token per device (prints `ID TOKEN` lines when several; only
        hashes are kept). A token reports for its own device only; a new one replaces the
        device's old one. `--tag` puts the devices in groups (rollouts and pins can target
        them; the console and `fleet status --tag` filter by them)."""
        from litefleet.registry.repository import Repository
        from litefleet.registry.tokens import DeviceTokens

        ids = list(device)
        if devices_file is not None:
            if not devices_file.is_file():
                raise UserError(f"{devices_file} is not a file")
            ids += [line.strip() for line in devices_file.read_text().splitlines() if line.strip()]
        if not ids:
            raise UserError("give --device ID (repeatable) or --devices-file FILE")
        book = DeviceTokens(Repository(repo).keys.path)
        if revoke:
            for d in ids:
                typer.echo(f"{d}: {book.revoke(d)} token(s) revoked")
            return
        issued = book.issue_many(ids, label, tag or None)
        if tag:
            _refresh_groups(Repository(repo))
        if len(issued) == 1 and devices_file is None:
            typer.echo(next(iter(issued.values())))
            return
        for d, token in issued.items():
            typer.echo(f"{d} {token}")

    @repo_app.command("tag")
    def repo_tag(
        repo: Path = typer.Argument(...),
        device: str = typer.Option(..., "--device", help="An enrolled device id."),
        tag: list[str] = typer.Option([], "--tag", help="The device's groups (replaces them)."),
    ) -> None:
        """Set an enrolled device's groups (rollouts and pins naming a group are re-signed
        with the new members)."""
        from litefleet.registry.repository import Repository
        from litefleet.registry.tokens import DeviceTokens

        r = Repository(repo)
        tags = DeviceTokens(r.keys.path).set_tags(device, tag)
        _refresh_groups(r)
        typer.echo(f"{device}: {', '.join(tags) or '(no tags)'}")

    operator_app = typer.Typer(help="Operator accounts for the console and the operator API.")
    repo_app.add_typer(operator_app, name="operator")

    @operator_app.command("add")
    def operator_add(
        repo: Path = typer.Argument(...),
        name: str = typer.Argument(..., help="Account name (A-Z a-z 0-9 _ -)."),
        role: str = typer.Option("viewer", "--role", help="viewer (reads) or operator (steers)."),
    ) -> None:
        """Create (or reset) an account; prints its secret ONCE: the console password and the
        CLI's bearer token (`fleet status --token`, LITEFLEET_OPERATOR_TOKEN)."""
        from litefleet.registry.operators import OperatorBook
        from litefleet.registry.repository import Repository

        typer.echo(OperatorBook(Repository(repo).keys.path).add(name, role))

    @operator_app.command("list")
    def operator_list(repo: Path = typer.Argument(...)) -> None:
        """Accounts and their roles (secrets are never shown again)."""
        from litefleet.registry.operators import OperatorBook
        from litefleet.registry.repository import Repository

        for name, role in OperatorBook(Repository(repo).keys.path).list().items():
            typer.echo(f"{name} {role}")

    @operator_app.command("remove")
    def operator_remove(repo: Path = typer.Argument(...), name: str = typer.Argument(...)) -> None:
        """Delete an account: its token and its console sessions stop working at once."""
        from litefleet.registry.operators import OperatorBook
        from litefleet.registry.repository import Repository

        if not OperatorBook(Repository(repo).keys.path).remove(name):
            raise UserError(f"no operator {name!r}")
        typer.echo(f"removed {name}")

    @app.command("pin")
    def pin_cmd(
        repo: Path = typer.Argument(...),
        model: str = typer.Option(..., "--model"),
        device: str | None = typer.Option(None, "--device", help="Pin one device."),
        tag: str | None = typer.Option(None, "--tag", help="Pin a device group."),
        version: int | None = typer.Option(None, "--version", help="The release to run."),
        unpin: bool = typer.Option(False, "--unpin", help="Remove the pin."),
    ) -> None:
        """Pin a device or a group to one release (signed in rollout.json, like a rollout)."""
        from litefleet.registry.repository import Repository
        from litefleet.registry.rollout import set_pin

        if (device is None) == (tag is None):
            raise UserError("give one of --device ID or --tag NAME")
        if unpin == (version is not None):
            raise UserError("give one of --version N or --unpin")
        target = f"device:{device}" if device is not None else f"tag:{tag}"
        state = set_pin(Repository(repo), model, target, version)
        pinned = state.pins.get(target)
        typer.echo(f"{model} {target}: " + (f"pinned to {pinned}" if pinned else "unpinned"))

    @app.command("publish")
    def publish_cmd(
        repo: Path = typer.Argument(...),
        build_dir: Path = typer.Argument(..., help="Output folder of `litefleet build`."),
        model: str = typer.Option(..., "--model", help="Model name in the repository."),
        version: int | None = typer.Option(None, help="Release counter (default: latest+1)."),
        channel: str = typer.Option("stable", help="Channel: stable, beta, …"),
        rollout: float = typer.Option(100.0, "--rollout", help="Percent of devices that get it."),
        min_accuracy: float | None = typer.Option(
            None,
            help="Golden-set accuracy a device requires (default: the quality rules: floor,"
            " above chance, worst variant - tolerance).",
        ),
        force: bool = typer.Option(
            False, "--force", help="Publish even bytes identical to a paused/aborted release."
        ),
        allow_regression: bool = typer.Option(
            False,
            "--allow-regression",
            help="Publish a release the quality rules refuse (recorded in the release).",
        ),
        tolerance: float | None = typer.Option(
            None, help="Accuracy a release may lose vs the previous good one (default 0.03)."
        ),
        stages: str | None = typer.Option(
            None,
            "--stages",
            help="Automatic rollout stages in percent, e.g. 1,10,50,100: the server"
            " promotes the release when a stage baked healthy (overrides --rollout).",
        ),
        bake: str = typer.Option("2h", "--bake", help="Time each stage bakes: 2h, 30m, 90s."),
        check_timeout: float = typer.Option(
            30.0, "--check-timeout", help="Seconds each model may take to load and run once."
        ),
        golden_budget: int = typer.Option(
            1 << 20,
            "--golden-budget",
            help="Bytes the golden inputs + reference may take (samples trimmed to fit).",
        ),
    ) -> None:
        """Sign a build as a new release: models, golden set, delta patches, release index."""
        from litefleet.registry.publish import publish
        from litefleet.registry.repository import Repository

        done = publish(
            Repository(repo),
            build_dir,
            model,
            version,
            channel,
            rollout,
            min_accuracy,
            force=force,
            check_timeout_s=check_timeout,
            allow_regression=allow_regression,
            tolerance=tolerance,
            golden_budget=golden_budget,
            stages=_stages(stages),
            bake_s=_seconds(bake),
        )
        for note in done.notes:
            typer.echo(note)
        typer.echo(
            f"published {done.model} {done.version}: {len(done.variants)} variants, "
            f"{len(done.patches)} patches, rollout {rollout:g}% on {channel}"
        )
        if done.golden_dropped:
            typer.echo(
                f"golden set: {done.golden_samples} samples kept, {done.golden_dropped} left"
                f" out to fit {golden_budget} bytes (--golden-budget)"
            )
        if done.compacted:
            typer.echo(f"index compacted: releases {done.compacted} left the signed index")

    @app.command("rollout")
    def rollout_cmd(
        repo: Path = typer.Argument(...),
        model: str = typer.Option(..., "--model"),
        version: int = typer.Option(..., "--version"),
        percent: float | None = typer.Option(None, "--percent", help="Set the percentage."),
        pause: bool = typer.Option(False, "--pause"),
        resume: bool = typer.Option(False, "--resume"),
        abort: bool = typer.Option(False, "--abort", help="Devices on it go back."),
        hold: bool = typer.Option(False, "--hold", help="No automatic stage until --release."),
        release: bool = typer.Option(False, "--release", help="Let automatic stages go on."),
        reason: str = typer.Option("", help="Recorded in the signed rollout state."),
        tag: list[str] = typer.Option(
            [], "--tag", help="Offer it only to these device groups (repeatable)."
        ),
        all_devices: bool = typer.Option(False, "--all-devices", help="Remove --tag limits."),
    ) -> None:
        """Change who gets a release: one of --percent, --pause, --resume, --abort (with
        --percent: --tag GROUP limits it to groups, --all-devices lifts that)."""
        from litefleet.registry.repository import Repository
        from litefleet.registry.rollout import change_rollout

        chosen = [
            name
            for name, on in (
                ("percent", percent is not None),
                ("pause", pause),
                ("resume", resume),
                ("abort", abort),
                ("hold", hold),
                ("release", release),
            )
            if on
        ]
        if len(chosen) != 1:
            raise UserError(
                "give exactly one of --percent, --pause, --resume, --abort, --hold, --release"
            )
        tags = [] if all_devices else (tag or None)
        state = change_rollout(
            Repository(repo), model, version, chosen[0], percent, reason, tags=tags
        )
        entry = state.rollouts[version]
        staged = (
            f", stages {','.join(f'{p:g}' for p in entry.stages)}"
            + (" (held)" if entry.hold else "")
            if entry.stages
            else ""
        )
        groups = f", groups {', '.join(entry.tags)}" if entry.tags else ""
        typer.echo(f"{model} {version}: {entry.status}, {entry.percent:g}%{staged}{groups}")

    @app.command("serve")
    def serve_cmd(
        repo: Path = typer.Argument(...),
        host: str = typer.Option("127.0.0.1", help="Bind address (put TLS in front if public)."),
        port: int = typer.Option(8080),
        db: str | None = typer.Option(
            None,
            "--db",
            help="SQLAlchemy URL of the telemetry store (default sqlite:///REPO/telemetry.db; "
            "postgresql+psycopg://user@host/db for a fleet).",
        ),
        workers: int = typer.Option(1, "--workers", min=1, max=64, help="API processes."),
        halt_threshold: float = typer.Option(
            0.2, min=0.0, max=1.0, help="Failure share that pauses a rollout."
        ),
        halt_min_devices: int = typer.Option(
            5, min=1, help="Enrolled devices in the rollout that must have tried it."
        ),
        halt_min_failed: int = typer.Option(
            3, min=1, help="Enrolled devices in the rollout that must have failed it."
        ),
        device_rate: float = typer.Option(
            2.0, min=0.01, help="Reports per second per device (per worker), then 429."
        ),
        promote_min_devices: int = typer.Option(
            5,
            min=1,
            help="Devices whose live canaries a stage needs before the judge is sure enough"
            " to promote a staged release.",
        ),
        promote_interval: float = typer.Option(
            60.0, min=0.1, help="Seconds between the server's checks of staged rollouts."
        ),
        public_metrics: bool = typer.Option(
            False, "--public-metrics", help="Serve /metrics without operator auth."
        ),
        login_failures: int = typer.Option(
            5, min=1, help="Wrong operator secrets per account within --login-window, then 429."
        ),
        login_address_failures: int = typer.Option(
            20, min=1, help="Wrong operator secrets per client address within --login-window."
        ),
        login_window: float = typer.Option(
            900.0, min=1.0, help="Seconds a failed operator login counts (and a lockout lasts)."
        ),
    ) -> None:
        """Serve the repository, collect telemetry, halt failing rollouts, re-sign timestamps."""
        from litefleet.registry.halt import HaltRule
        from litefleet.registry.judge import CanaryJudge
        from litefleet.registry.keys import offline_keys_exposed
        from litefleet.registry.repository import Repository
        from litefleet.registry.server import ServerSettings, serve

        if not (repo / "metadata" / "root.json").is_file():
            raise UserError(f"{repo} is not a litefleet repository")
        exposed = offline_keys_exposed(Repository(repo).keys.path, repo)
        if exposed:
            typer.secho(
                "WARNING: the server can read OFFLINE signing keys (root/targets):\n  "
                + "\n  ".join(str(p) for p in exposed)
                + "\nAnyone who takes over this server can sign models. Move them to the "
                "offline keys folder (see docs/registry.md) and re-run.",
                err=True,
                fg="red",
                bold=True,
            )
        rule = HaltRule(
            threshold=halt_threshold, min_devices=halt_min_devices, min_failed=halt_min_failed
        )
        settings = ServerSettings(
            repo=repo,
            db_url=db,
            halt=rule,
            judge=CanaryJudge(min_devices_good=promote_min_devices),
            promote_interval=promote_interval,
            device_rate=device_rate,
            public_metrics=public_metrics,
            login_failures=login_failures,
            login_address_failures=login_address_failures,
            login_window_s=login_window,
        )
        serve(settings, host=host, port=port, workers=workers)

    @fleet_app.command("status")
    def fleet_status(
        server: str = typer.Option("http://127.0.0.1:8080", "--server"),
        as_json: bool = typer.Option(False, "--json", help="Print the raw report."),
        token: str | None = typer.Option(
            None,
            "--token",
            envvar="LITEFLEET_OPERATOR_TOKEN",
            help="An operator's secret (repo operator add); or LITEFLEET_OPERATOR_TOKEN.",
        ),
        tag: str | None = typer.Option(None, "--tag", help="Count only this device group."),
    ) -> None:
        """Per model and release: devices running it, failures, rollbacks, rollout state."""
        from litefleet.registry.fleetclient import fetch_fleet

        report = fetch_fleet(server, token=token, tag=tag)
        if as_json:
            typer.echo(report.model_dump_json(indent=1))
            return
        _print_fleet(report)

    alerts_app = typer.Typer(help="Webhooks on halts, failure rates and silent devices.")
    app.add_typer(alerts_app, name="alerts")

    @alerts_app.command("add")
    def alerts_add(
        repo: Path = typer.Argument(...),
        url: str = typer.Option(..., "--url", help="Where to POST (http:// or https://)."),
        hook_id: str = typer.Option("default", "--id", help="A name for this webhook."),
        on: list[str] = typer.Option(
            [], "--on", help="halt, failure_rate, unseen (repeatable; default: all three)."
        ),
        secret: str | None = typer.Option(
            None, "--secret", help="Shared HMAC secret (default: a new one, printed)."
        ),
        failure_rate: float = typer.Option(0.2, help="Alert above this failure share."),
        min_devices: int = typer.Option(5, help="...once at least this many devices tried."),
        unseen_checks: int = typer.Option(3, help="Silent for more than this many checks..."),
        check_interval: str = typer.Option("1h", help="...of this interval (30m, 1h, 1d)."),
    ) -> None:
        """Add (or replace) a webhook; prints its HMAC-SHA256 secret."""
        from litefleet.registry.alerts import KINDS, AlertBook, Hook
        from litefleet.registry.repository import Repository

        hook = AlertBook(Repository(repo).keys.path).add(
            Hook(
                id=hook_id,
                url=url,
                secret=secret or "",
                on=list(on) or list(KINDS),
                failure_rate=failure_rate,
                min_devices=min_devices,
                unseen_checks=unseen_checks,
                check_interval_s=_seconds(check_interval),
            )
        )
        typer.echo(f"webhook {hook.id} -> {hook.url} on {', '.join(hook.on)}")
        typer.echo(f"secret (X-Litefleet-Signature: sha256=HMAC of the body): {hook.secret}")

    @alerts_app.command("list")
    def alerts_list(repo: Path = typer.Argument(...)) -> None:
        """Configured webhooks (secrets not shown)."""
        from litefleet.registry.alerts import AlertBook
        from litefleet.registry.repository import Repository

        for h in AlertBook(Repository(repo).keys.path).hooks():
            typer.echo(
                f"{h.id} {h.url} on={','.join(h.on)} failure_rate>{h.failure_rate:g} "
                f"unseen>{h.unseen_checks}x{h.check_interval_s:g}s"
            )

    @alerts_app.command("remove")
    def alerts_remove(repo: Path = typer.Argument(...), hook_id: str = typer.Argument(...)):
        """Delete a webhook."""
        from litefleet.registry.alerts import AlertBook
        from litefleet.registry.repository import Repository

        if not AlertBook(Repository(repo).keys.path).remove(hook_id):
            raise UserError(f"no webhook {hook_id!r}")
        typer.echo(f"removed {hook_id}")


def _refresh_groups(repo) -> None:
    """Re-sign rollout states naming a group whose members changed (needs the rollout key)."""
    from litefleet.registry.rollout import refresh_groups

    if repo.keys.has("rollout"):
        for model in repo.models():
            refresh_groups(repo, model)


def _print_fleet(report) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "model",
        "version",
        "channel",
        "running",
        "tried",
        "failed",
        "rolled back",
        "rollout",
        "floor",
    )
    for r in report.releases:
        rollout = "-" if r.rollout_status is None else f"{r.rollout_percent:g}% {r.rollout_status}"
        table.add_row(
            r.model,
            str(r.version),
            r.channel or "-",
            str(r.running),
            str(r.tried),
            f"{r.failed} ({r.failure_rate:.0%})",
            str(r.rolled_back),
            rollout,
            "-" if r.quality_floor is None else f"{r.quality_floor:.3f}",
        )
    Console().print(table)
