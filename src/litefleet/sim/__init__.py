"""A discrete-event fleet simulation that drives the real device policy code.

config.py  settings (pydantic) with every distribution's default
traces.py  per-device hourly network / battery / load / time zone, drawn with numpy
server.py  signed index + rollout state as devices see them, staged rollouts, auto-halt
engine.py  the event loop: each device runs `litefleet.device.policy` on a virtual clock
metrics.py the figures; runner.py all strategies in parallel; report.py table, JSON, plots

from litefleet.sim.config import load_config
from litefleet.sim.runner import simulate
result = simulate(load_config(None, devices=1000, days=7))
"""
