"""Counting outcomes: every scenario reports trials, survived and the failures by name.

The reliability suite and `litefleet selftest` print the same table, so a number in
docs/reliability.md means the same thing as a number on a user's device.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Tally:
    scenario: str
    trials: int = 0
    survived: int = 0
    failures: list[str] = field(default_factory=list)
    notes: Counter[str] = field(default_factory=Counter)
    """Outcome counts worth showing (e.g. `refused at publish`, `resumed`)."""

    def trial(self, name: str, ok: bool, why: str = "") -> bool:
        self.trials += 1
        if ok:
            self.survived += 1
        else:
            self.failures.append(f"{name}: {why}" if why else name)
        return ok

    def note(self, what: str, n: int = 1) -> None:
        self.notes[what] += n

    def merge(self, other: Tally) -> None:
        self.trials += other.trials
        self.survived += other.survived
        self.failures += other.failures
        self.notes.update(other.notes)

    @property
    def ok(self) -> bool:
        return not self.failures and self.trials > 0


@dataclass
class Report:
    """All tallies of a session, by scenario name (merged when a scenario runs twice)."""

    tallies: dict[str, Tally] = field(default_factory=dict)

    def tally(self, scenario: str) -> Tally:
        return self.tallies.setdefault(scenario, Tally(scenario))

    def add(self, tally: Tally) -> None:
        self.tally(tally.scenario).merge(tally)

    def table(self) -> str:
        """A Markdown table: pastes into docs as is, reads fine in a terminal."""
        rows = [("scenario", "trials", "survived", "failures", "notes")]
        for t in self.tallies.values():
            notes = ", ".join(f"{k}: {v}" for k, v in sorted(t.notes.items()))
            rows.append((t.scenario, str(t.trials), str(t.survived), str(len(t.failures)), notes))
        total = sum(t.trials for t in self.tallies.values())
        alive = sum(t.survived for t in self.tallies.values())
        rows.append(("**total**", str(total), str(alive), str(total - alive), ""))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = []
        for i, r in enumerate(rows):
            lines.append(
                "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
            )
            if i == 0:
                lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)

    def failures(self) -> list[str]:
        return [f"{t.scenario}: {f}" for t in self.tallies.values() for f in t.failures]

    def to_json(self) -> dict:
        return {
            name: {
                "trials": t.trials,
                "survived": t.survived,
                "failures": t.failures,
                "notes": dict(t.notes),
            }
            for name, t in self.tallies.items()
        }
