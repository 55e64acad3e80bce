"""When to check for an update and when to download it: the three strategies.

A policy is a pure decision object: frozen settings, no I/O, no clock, no randomness of
its own. The caller passes the state, the time, the device's conditions, the on-device
feedback and an RNG, and gets a decision back. The agent drives it with the system clock;
the fleet simulator drives the same objects for a million devices on a virtual clock.

Every decision is implemented once, on numpy arrays with one element per device
(`start_many`, `due_many`, `may_download_many`, `after_many`); the scalar methods the
agent calls wrap them with length-1 arrays, so the simulator and the device cannot
disagree.

    policy = SmartPolicy()
    state = policy.start(now, rng)
    if policy.due(state, now, feedback):
        gate = policy.may_download(now, conditions, size_bytes,     # after reading the index
                                   full_bytes=full, behind_since=state.behind_since)
        state = policy.after(state, now, outcome, feedback, rng)  # "none", "installed", ...
    sleep_until(state.next_check)

The package's modules, one job each: `state` (outcomes, what a policy remembers),
`rules` (download rules and their escalation), `strategies` (the three policies and
`make_policy`), `settings_docs` (the settings tables of docs/device.md). Import the public
names from here.
"""

from __future__ import annotations

from litefleet.device.conditions import (
    NET_METERED,
    NET_NONE,
    NET_UNMETERED,
    NETWORK_NAMES,
    ConditionsArray,
)
from litefleet.device.policy._common import DAY, HOUR, SETTINGS, Hours, Seconds
from litefleet.device.policy.rules import (
    ANY_NETWORK,
    STEPS,
    DownloadDecision,
    DownloadRules,
    Escalation,
    Rule,
    Step,
    in_window,
)
from litefleet.device.policy.settings_docs import setting_docs, settings_markdown
from litefleet.device.policy.state import (
    OUTCOME_CODES,
    OUTCOMES,
    Outcome,
    PolicyState,
    PolicyStates,
    behind_since_many,
    next_behind_since,
)
from litefleet.device.policy.strategies import (
    STRATEGIES,
    STRATEGY_NAMES,
    ConditionalPolicy,
    PeriodicPolicy,
    Policy,
    SmartPolicy,
    StrategyName,
    make_policy,
    setting_names,
)
from litefleet.drift import Feedback

__all__ = [
    "ANY_NETWORK",
    "DAY",
    "HOUR",
    "NETWORK_NAMES",
    "NET_METERED",
    "NET_NONE",
    "NET_UNMETERED",
    "OUTCOMES",
    "OUTCOME_CODES",
    "SETTINGS",
    "STEPS",
    "STRATEGIES",
    "STRATEGY_NAMES",
    "ConditionalPolicy",
    "ConditionsArray",
    "DownloadDecision",
    "DownloadRules",
    "Escalation",
    "Feedback",
    "Hours",
    "Outcome",
    "PeriodicPolicy",
    "Policy",
    "PolicyState",
    "PolicyStates",
    "Rule",
    "Seconds",
    "SmartPolicy",
    "Step",
    "StrategyName",
    "behind_since_many",
    "in_window",
    "make_policy",
    "next_behind_since",
    "setting_docs",
    "setting_names",
    "settings_markdown",
]
