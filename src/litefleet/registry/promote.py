"""Rollouts that promote themselves: the next stage when the current one baked healthy.

A release published with stages (`publish --stages 1,10,50,100 --bake 2h`) starts at the
first stage. The server moves it to the next stage when all of these hold:

- the current stage has baked `bake_s` seconds (`rollout.due_stage`);
- the signed rollout is active and not held by an operator (`rollout --hold`);
- the canary judge (`judge.py`) is *sure it is good*: at least `min_devices_good` distinct
  devices offered the release sent live canary summaries *since the current stage
  started* (each stage earns its own evidence), failures are not significant
  and pooled live agreement is where the golden set predicted. An *unsure* judge (too few
  devices, borderline figures) never promotes: the release waits at its stage;
- the failure rule of `halt.py` does not call for a pause.

Every step is signed with the online rollout key (the rollout state devices read) and
recorded in the `promotions` table (who: the worker; what: from/to percent; why: the
judge's line), shown by `GET /v1/promotions`. Two workers racing for one step sign it
once: the step is re-checked under the repository lock (`promote_if_due`).
"""

from __future__ import annotations

import logging
import os
import socket
import time

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from litefleet.registry.db import promotions
from litefleet.registry.halt import HaltKeeper, RolloutView
from litefleet.registry.rollout import due_stage, promote_if_due

log = logging.getLogger("litefleet.promote")


class Promoter:
    def __init__(self, keeper: HaltKeeper, view: RolloutView) -> None:
        self.keeper, self.view = keeper, view
        self.engine: Engine = keeper.store.engine

    def consider(self, model: str, version: int, now: float | None = None) -> bool:
        """Promote one release if every condition holds (module doc); True when done."""
        now = time.time() if now is None else now
        entry = self.view.entry(model, version)
        if entry is None or not due_stage(entry, now):
            return False
        record = self.keeper.sync(model, version)
        since = record.resumed_at if record else None
        if self.keeper.rule.should_halt(self.keeper.health(model, version, since)):
            return False
        # evidence of this stage: summaries that arrived since it started
        stage = max(since or 0.0, entry.stage_since or 0.0)
        judgement = self.keeper.judgement(model, version, stage)
        if judgement.verdict != "good":
            return False
        moved = promote_if_due(self.keeper.repo, model, version, now, judgement.reason)
        if moved is None:
            return False
        before, entry = moved
        with self.engine.begin() as conn:
            conn.execute(
                insert(promotions).values(
                    model=model,
                    version=version,
                    from_percent=before,
                    to_percent=entry.percent,
                    at=now,
                    by=f"server {socket.gethostname()} pid {os.getpid()}",
                    reason=judgement.reason,
                    signed_updated=entry.updated,
                )
            )
        log.warning("promoted %s %s: %g%% -> %g%%", model, version, before, entry.percent)
        return True

    def consider_all(self) -> int:
        """Every staged release of every model (the server's periodic loop)."""
        done = 0
        for model in self.keeper.repo.models():
            state = self.view.state(model)
            for version, entry in sorted(state.rollouts.items()) if state else []:
                if entry.stages:
                    try:
                        done += self.consider(model, version)
                    except Exception:  # one release's trouble must not stop the others
                        log.exception("promotion of %s %s failed", model, version)
        return done

    def history(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(promotions).order_by(promotions.c.id)).all()
        return [dict(r._mapping) for r in rows]
