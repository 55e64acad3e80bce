"""Fleet simulation on the real device policy code (a million devices per machine; more: Ray).

config.py     settings (pydantic) with every distribution's default
traces.py     per-device hourly network / battery / load / time zone, compact, drawn in chunks
server.py     signed index + rollout state as devices see them, staged rollouts, auto-halt
engine.py     time-stepped and vectorised: the fleet's state in numpy arrays, decided by the
              policy's array methods (`due_many`, `may_download_many`, `after_many`, ...)
stragglers.py why devices waited for a release, who never got it
metrics.py    the figures; runner.py all strategies in parallel processes; memory.py peak
              memory of the process tree; report.py table, JSON, plots
shard.py      one run's devices sharded over Ray actors (`simulate --ray`), one real server

from litefleet.sim.config import load_config
from litefleet.sim.runner import simulate
result = simulate(load_config(None, devices=1000, days=7))
"""
