"""`litefleet agent …`: the device side on the command line (never imports TensorFlow).

Other tools and tests drive the agent through these commands, so their options and the
JSON of `check --json` are a contract. Heavy modules are imported inside each command.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

HOME = typer.Option(..., "--home", help="Device home folder (config, store, TUF metadata).")


def _print_json(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=None, default=str))


def run_line(r) -> str:
    """One line per cycle of `agent run`: time, decision, reason, why it ran, next check."""
    import time

    now = time.strftime("%Y-%m-%d %H:%M:%S")
    nxt = time.strftime("%H:%M:%S", time.localtime(r.next_check)) if r.next_check else "-"
    reason = f" ({r.reason})" if r.reason else ""
    why = f" [{r.trigger}]" if r.trigger else ""
    if r.escalation:  # the freshness guarantee relaxed a rule for this download
        why += f" [let through by {r.escalation}]"
    warn = "".join(f" WARNING: {w}" for w in r.warnings)
    return f"{now} {r.action}: active {r.active_version}{reason}{why} next check {nxt}{warn}"


def _active_line(s: dict) -> str:
    if s["active"] is None:  # a fresh home: say what to do rather than print "None (None)"
        return "active: no model yet (the next `litefleet agent check` installs one)"
    return (
        f"active {s['active']} ({s['variant']})  previous {s['previous'] or '-'}"
        f"  installed {s['installed']}"
    )


def status_lines(s: dict) -> list[str]:
    lines = [
        f"model {s['model']} on {s['server']} as {s['device_id']} ({s['strategy']})",
        _active_line(s),
        f"probation: {s['probation_text']}",
    ]
    for version, why in sorted(s["blocked"].items()):
        lines.append(f"blocked {version}: {why}  (allow again: agent unblock {version})")
    if s["last_check"]:
        last = s["last_check"]
        lines.append(f"last check: {last['action']} {last.get('reason', '')}".rstrip())
    lines.append(f"next check: {s['next_check_text']}")
    if s.get("behind_text"):
        lines.append(s["behind_text"])
    lines.append(f"downloads: {s['download_rules']}")
    lines.append(f"metadata: {s['metadata']['age_text']}")
    lines.append(f"telemetry queued: {s['telemetry_queued']}")
    if "push" in s:
        lines.append(f"push: {s['push']['text']}")
    lines.extend(f"WARNING: {w}" for w in s["warnings"])
    return lines


def read_inputs(path: Path):
    """An .npy array, or an .npz of arrays by input name (`in0`, `in1`, ... by position)."""
    import zipfile

    import numpy as np

    from litefleet.errors import UserError

    if not path.is_file():
        raise UserError(f"input file not found: {path}")
    try:
        if zipfile.is_zipfile(path):
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            positional = [f"in{i}" for i in range(len(arrays))]
            return [arrays[k] for k in positional] if set(arrays) == set(positional) else arrays
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        first = " ".join(str(exc).split())[:200]
        raise UserError(f"cannot read {path} as .npy or .npz of numbers: {first}") from None


def _after_unblock(store, version: int) -> str:
    """What happens next to an unblocked version, in one line."""
    st = store.state()
    if version in store.installed():
        if st.active is None or version > st.active:
            return (
                f"next check: activates {version} again (already on disk) if its rollout"
                " still offers it to this device; `litefleet agent check` does it now"
            )
        return f"next check: nothing changes; `litefleet agent rollback --to {version}` goes to it"
    if version <= st.highest_activated:
        return (
            f"next check: nothing changes: {version} is no longer on this device and a device"
            f" never downloads a release at or below the highest it ran ({st.highest_activated})"
        )
    return f"next check: downloads and gates {version} again if its rollout offers it"


def _json_object(text: str | None, option: str, of: str = "") -> dict:
    """The JSON object an option gives (none given: empty); anything else, one line."""
    from litefleet.errors import UserError

    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise UserError(f"{option} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UserError(f"{option} must be a JSON object{of}")
    return value


def register(app: typer.Typer) -> None:
    agent_app = typer.Typer(
        help="The device agent: verified updates, health gate, rollback, local inference.",
        no_args_is_help=True,
    )
    app.add_typer(agent_app, name="agent")

    @agent_app.command("init")
    def init(
        home: Path = HOME,
        server: str = typer.Option(..., "--server", help="Update server URL."),
        root: Path = typer.Option(..., "--root", help="Trusted root.json shipped with the device."),
        model: str = typer.Option(..., "--model", help="Model name to follow."),
        device_id: str | None = typer.Option(None, "--device-id"),
        channel: str = typer.Option("stable", "--channel"),
        token: str | None = typer.Option(None, "--token", help="Telemetry bearer token."),
        strategy: str = typer.Option(
            "periodic",
            "--strategy",
            help="periodic | conditional | smart",
        ),
        conditions: Path | None = typer.Option(
            None, "--conditions", help="Read device conditions from this JSON file each cycle."
        ),
        policy: str | None = typer.Option(
            None, "--policy", help="Strategy settings as JSON, e.g. '{\"interval\": 600}'."
        ),
        policy_file: Path | None = typer.Option(
            None, "--policy-file", help="Strategy settings from a .toml or .json file."
        ),
        latency_budget_ms: float | None = typer.Option(None, "--latency-budget-ms"),
        precisions: str | None = typer.Option(
            None, "--precisions", help="Comma list the device supports, e.g. int8,float32."
        ),
        prefer: str = typer.Option("accuracy", "--prefer", help="accuracy | size | speed"),
        keep: int = typer.Option(3, "--keep", help="Versions kept on disk (>= 2)."),
        probation_predictions: int = typer.Option(200, "--probation-predictions"),
        probation_seconds: float = typer.Option(1800.0, "--probation-seconds"),
        sticky_tolerance: float | None = typer.Option(
            None,
            "--sticky-tolerance",
            help="Keep the installed variant (patches apply) while its accuracy is within"
            " this of the best (default 0.01).",
        ),
        force: bool = typer.Option(
            False, "--force", help="Replace the settings of an existing home."
        ),
        offline: bool = typer.Option(
            False,
            "--offline",
            help="Do not contact the server (a device prepared before its first release).",
        ),
        push: str | None = typer.Option(
            None,
            "--push",
            help="MQTT broker of the fleet's push nudges, e.g. mqtt://broker:1883 (needs --token).",
        ),
    ) -> None:
        """Create a device home that follows MODEL on SERVER, trusting ROOT.

        Everything is validated first, the server included (its metadata must verify with
        ROOT and it must publish MODEL; --offline skips that); on any error nothing is
        written (exit 2).
        """
        from litefleet.device.config import read_policy_file
        from litefleet.device.home import init_home
        from litefleet.device.policy import STRATEGY_NAMES
        from litefleet.errors import UserError

        if strategy not in STRATEGY_NAMES:
            names = ", ".join(STRATEGY_NAMES[:-1]) + f" or {STRATEGY_NAMES[-1]}"
            raise UserError(f"unknown strategy {strategy!r}: {names}")
        policy_dict = read_policy_file(policy_file) if policy_file else {}
        # --policy overrides the file, key by key
        policy_dict.update(_json_object(policy, "--policy", " of settings"))
        try:
            cfg = init_home(
                home,
                server=server,
                root=root,
                model=model,
                device_id=device_id,
                channel=channel,
                token=token,
                strategy=strategy,
                policy=policy_dict,
                conditions_file=str(conditions.resolve()) if conditions else None,
                latency_budget_ms=latency_budget_ms,
                precisions=precisions.split(",") if precisions else None,
                prefer=prefer,
                keep=keep,
                probation={"predictions": probation_predictions, "seconds": probation_seconds},
                sticky_tolerance=sticky_tolerance,
                push={"broker": push} if push else None,
                force=force,
                contact_server=not offline,
            )
        except ValueError as exc:  # pydantic validation of the settings
            raise UserError(f"invalid agent settings: {exc}") from None
        checked = "not contacted (--offline)" if offline else f"{cfg.server} publishes it"
        typer.echo(
            f"initialised {home} for model {cfg.model} as device {cfg.device_id}; server: {checked}"
        )

    @agent_app.command("check")
    def check(
        home: Path = HOME,
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """One update cycle. Exit 0 when it completed (even deferred/rejected), else 1."""
        from litefleet.device.agent import Agent
        from litefleet.device.status import unusable_home_result
        from litefleet.errors import UserError

        try:
            agent = Agent(home)
        except UserError as exc:  # e.g. config.json edited into nonsense: say so, change nothing
            result = unusable_home_result(home, str(exc))
        else:
            result = agent.check()
        if as_json:
            _print_json(result.to_json())
        else:
            typer.echo(
                f"{result.action}: active {result.active_version}"
                + (f" ({result.reason})" if result.reason else "")
                + (f" [let through by {result.escalation}]" if result.escalation else "")
            )
        if not result.completed:
            raise SystemExit(1)  # not typer.Exit: survives standalone_mode=False

    @agent_app.command("run")
    def run(
        home: Path = HOME,
        max_cycles: int | None = typer.Option(None, "--max-cycles", help="Stop after N checks."),
        tick: float = typer.Option(5.0, "--tick", help="Seconds between looks at the schedule."),
        as_json: bool = typer.Option(False, "--json", help="One JSON line per check."),
    ) -> None:
        """Run the update loop under the configured strategy (Ctrl-C to stop)."""
        from litefleet.device.agent import Agent

        def show(r) -> None:
            if as_json:
                _print_json(r.to_json())
            else:
                typer.echo(run_line(r))

        from litefleet.device.push import start_push

        agent = Agent(home)
        push = start_push(agent.config, home)  # None when push is off for this device
        try:
            agent.run(max_cycles=max_cycles, tick=tick, on_result=show, push=push)
        except KeyboardInterrupt:
            raise SystemExit(130) from None
        finally:
            if push is not None:
                push.close()

    @agent_app.command("push")
    def push_settings(
        home: Path = HOME,
        broker: str | None = typer.Option(None, "--broker", help="mqtt://HOST:PORT"),
        on: bool | None = typer.Option(None, "--on/--off", help="Use push nudges or not."),
        settings: str | None = typer.Option(
            None,
            "--settings",
            help='JSON, e.g. \'{"release_spread_s": 60, "min_interval_s": 30, "burst": 2}\'.',
        ),
    ) -> None:
        """Show or change this device's push settings (takes effect at the next `run`)."""
        from litefleet.device.config import load_config, save_config, validate_config
        from litefleet.errors import UserError

        cfg = load_config(home)
        current = cfg.push.model_dump() if cfg.push else {}
        changes = {**_json_object(settings, "--settings"), **({"broker": broker} if broker else {})}
        if on is not None:
            changes["enabled"] = on
        if changes:
            if "broker" not in current and "broker" not in changes:
                raise UserError("no broker yet: give --broker mqtt://HOST:PORT")
            data = cfg.model_dump(mode="json", exclude_none=True)
            data["push"] = {**current, **changes}
            cfg = validate_config(data)
            save_config(home, cfg)
        _print_json(cfg.push.model_dump() if cfg.push else {"enabled": False})

    @agent_app.command("status")
    def status(
        home: Path = HOME,
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """What is installed and active, probation, the last check, the next one."""
        from litefleet.device.status import status_of

        s = status_of(home)
        if as_json:
            _print_json(s)
            return
        for line in status_lines(s):
            typer.echo(line)

    @agent_app.command("rollback")
    def rollback(
        home: Path = HOME,
        to: int | None = typer.Option(None, "--to", help="Version (default: the previous)."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Activate an older installed version now; the version left is not reinstalled."""
        from litefleet.device.agent import Agent

        result = Agent(home).rollback(to)
        if as_json:
            _print_json(result.to_json())
        else:
            typer.echo(f"rolled back: active {result.active_version}")

    @agent_app.command("unblock")
    def unblock(
        what: str = typer.Argument(
            ..., help="A blocked version, or the sha256 (8+ hex) of refused model bytes."
        ),
        home: Path = HOME,
    ) -> None:
        """Allow a blocked version again (rolled back or refused earlier): `check` may
        install it and `rollback --to` may go to it. A sha256 allows those model bytes again
        under any version (the device refuses bytes it refused or rolled back before)."""
        from litefleet.device.config import load_config
        from litefleet.device.store import ModelStore

        cfg = load_config(home)
        store = ModelStore(home, keep=cfg.keep, recover=False)
        if what.isdigit():
            reason = store.unblock(int(what))
            typer.echo(f"unblocked version {what} (was blocked: {reason})")
            typer.echo(_after_unblock(store, int(what)))
        else:
            typer.echo(f"unblocked: {', '.join(store.unblock_bytes(what))}")

    @agent_app.command("predict")
    def predict(
        inputs: Path = typer.Argument(
            ...,
            help="A .npy array (one sample or a batch) for a one-input model, an .npz with"
            " one array per input name (or in0, in1, ... in input order), or an image file"
            " (.png/.jpg/...: prepared as the build did, per the release's card.json).",
        ),
        home: Path = HOME,
        out: Path | None = typer.Option(
            None, "--out", help="Also write every output to this .npz (arrays by output name)."
        ),
    ) -> None:
        """Run the active model on INPUTS; prints JSON {version, outputs: {name: list}} (an
        image also gets {label, index, score}: the class name from the release's card)."""
        import numpy as np

        from litefleet.card import IMAGE_SUFFIXES, class_name
        from litefleet.device.runtime import ModelRuntime

        runtime = ModelRuntime(home)
        image = inputs.suffix.lower() in IMAGE_SUFFIXES
        x = runtime.preprocess_image(inputs) if image else read_inputs(inputs)
        outputs, version = runtime.run_with_version(x)
        if out:
            np.savez(out, **outputs)
        answer: dict = {"version": version}
        if image:
            scores = np.asarray(next(iter(outputs.values()))).reshape(-1)
            index = int(scores.argmax())
            label = class_name(runtime.card, index)
            answer |= {"label": label, "index": index, "score": float(scores[index])}
        answer["outputs"] = {k: v.tolist() for k, v in outputs.items()}
        _print_json(answer)

    @agent_app.command("serve")
    def serve(
        home: Path = HOME,
        port: int = typer.Option(8500, "--port"),
        host: str = typer.Option("127.0.0.1", "--host", help="Keep it local unless you mean it."),
    ) -> None:
        """Serve predictions over HTTP (POST /v1/predict) with hot swap and probation."""
        import threading

        from litefleet.device.serve import make_server, watch_probation

        server = make_server(home, host, port)
        stop = threading.Event()
        if (home / "config.json").exists():
            watch_probation(home, stop)
        typer.echo(f"serving {home} on http://{host}:{server.server_address[1]}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            server.server_close()
