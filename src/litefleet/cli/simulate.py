"""`litefleet simulate`: compare the update strategies on a simulated fleet."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_command)


def simulate_command(
    devices: int | None = typer.Option(
        None, help="Fleet size (default 10000; more than 1000000 needs --ray)."
    ),
    days: float | None = typer.Option(None, help="Simulated days (default 30)."),
    seed: int | None = typer.Option(None, help="Seed of every draw (default 0)."),
    out: Path = typer.Option(
        Path("out/simulate"), "--out", "-o", help="Folder for simulate.json and the figures."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="TOML or JSON file with any simulation setting."
    ),
    full_bytes: int | None = typer.Option(None, help="Size of a release's model file."),
    patch_bytes: int | None = typer.Option(None, help="Size of a fine-tune's patch."),
    sizes_from: tuple[Path, Path] | None = typer.Option(
        None,
        "--sizes-from",
        help="Two build folders (OLD NEW): measure the file and its bsdiff4 patch.",
    ),
    variant: str | None = typer.Option(None, help="Variant whose file sizes count."),
    workers: int | None = typer.Option(
        None, help="Processes, one strategy each (default: one per core)."
    ),
    ray: str | None = typer.Option(
        None,
        "--ray",
        metavar="ADDRESS",
        help="Shard each run's devices over a Ray cluster: 'auto' (the cluster started on "
        "this machine with `ray start`, else a local one) or the head's address.",
    ),
    shards: int | None = typer.Option(
        None, "--shards", help="With --ray: device slices (default: the cluster's CPUs)."
    ),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write the PNG figures."),
    as_json: bool = typer.Option(False, "--json", help="Print simulate.json to stdout."),
) -> None:
    """Run the update strategies on the same simulated fleet and compare what they cost."""
    from litefleet.errors import UserError
    from litefleet.sim.config import load_config

    cfg = load_config(
        config,
        devices=devices,
        days=days,
        seed=seed,
        **{"releases.full_bytes": full_bytes, "releases.patch_bytes": patch_bytes},
        **{"releases.variant": variant},
    )
    if sizes_from is not None:
        from litefleet.sim.sizes import sizes_from as measure

        full, patch = measure(sizes_from[0], sizes_from[1], cfg.releases.variant)
        cfg = cfg.model_copy(
            update={
                "releases": cfg.releases.model_copy(
                    update={"full_bytes": full, "patch_bytes": patch}
                )
            }
        )
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1, not {workers}")
    if ray is None and shards is not None:
        raise UserError("--shards needs --ray")
    if ray is not None:
        from litefleet.sim.shard import check_ray_options

        check_ray_options(workers, shards)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {out}: {exc.strerror}") from None

    from litefleet.sim.report import plot, straggler_lines, table, write_json
    from litefleet.sim.runner import check_one_machine, simulate
    from litefleet.sim.shard import shard_lines

    if ray is None:
        check_one_machine(cfg)
    console = Console(stderr=as_json)
    if not console.is_terminal:
        console.width = max(console.width, 140)
    console.print(
        f"simulating {cfg.devices:,} devices × {cfg.days:g} days, "
        f"{len(cfg.runs)} strategies: {', '.join(r.name for r in cfg.runs)}"
    )
    done_at: list[int] = [0]

    def show(progress: dict[str, float], status=None) -> None:
        text = ", ".join(f"{name} {x:.0%}" for name, x in progress.items())
        if status is not None:
            status.update(f"running the fleet… {text}")
            return
        step = int(20 * sum(progress.values()) / len(progress))  # a line per 5 % of the work
        if step > done_at[0]:
            done_at[0] = step
            console.print(f"  progress: {text}")

    def done(name: str, o) -> None:
        s = o.summary
        console.print(f"  {name}: {s['events']:,} decisions in {s['wall_seconds']:.1f} s")

    with console.status("running the fleet…") as status:
        live = status if console.is_terminal else None
        if ray is None:
            result = simulate(cfg, workers=workers, on_done=done, progress=lambda p: show(p, live))
        else:
            from litefleet.sim.shard import simulate_sharded

            result = simulate_sharded(
                cfg, ray, shards, on_done=done, progress=lambda p: show(p, live)
            )
    for line in shard_lines(result):
        console.print(line)
    mem = result.memory.get("peak_rss_bytes")
    if mem:
        console.print(
            f"  peak memory of the process tree: {mem / 1e9:.2f} GB RSS"
            f" ({(result.memory.get('peak_pss_bytes') or 0) / 1e9:.2f} GB PSS),"
            f" traces drawn in {result.traces_seconds:.1f} s"
        )
    console.print(table(result))
    for line in straggler_lines(result):
        console.print(line, highlight=False)
    path = write_json(result, out)
    written = [path]
    if plots:
        try:
            written += plot(result, out)
        except ImportError:
            console.print("[yellow]matplotlib is not installed: no figures[/]")
    console.print("wrote " + ", ".join(str(p) for p in written))
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
