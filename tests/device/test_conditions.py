"""Conditions providers: the real machine and a JSON file re-read every time."""

from __future__ import annotations

import json

import pytest

from litefleet.device.conditions import Conditions, JsonConditions, SystemConditions
from litefleet.errors import UserError


def test_system_conditions_reads_this_machine(tmp_path):
    c = SystemConditions(tmp_path).read()
    assert c.network in ("none", "metered", "unmetered")
    assert c.free_disk_bytes > 0 and c.free_ram_bytes > 0
    assert 0 <= c.cpu_load <= 1 and 0 <= c.local_hour < 24


def test_system_network_from_a_fake_sysfs(tmp_path):
    net = tmp_path / "net"
    for name, state in (("lo", "unknown"), ("wwan0", "up"), ("eth0", "down")):
        (net / name).mkdir(parents=True)
        (net / name / "operstate").write_text(state + "\n")
    assert SystemConditions(tmp_path, net).read().network == "metered"
    (net / "eth0" / "operstate").write_text("up\n")
    assert SystemConditions(tmp_path, net).read().network == "unmetered"


def test_json_conditions_are_reread_and_partial(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"network": "metered", "battery_percent": 12}))
    prov = JsonConditions(f)
    assert prov.read() == Conditions(network="metered", battery_percent=12)
    f.write_text(json.dumps({"local_hour": 3}))
    assert prov.read().network == "unmetered" and prov.read().local_hour == 3
    f.write_text(json.dumps({"wifi": True}))
    with pytest.raises(UserError, match="unknown fields"):
        prov.read()


def test_the_conditions_file_keys_are_documented_with_their_defaults(tmp_path):
    """docs/device.md's table lists exactly the keys a `--conditions` file may hold, with
    the defaults a missing key takes; the page's example is a valid file."""
    import re
    from dataclasses import fields
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "device.md").read_text()
    section = page.split("### The conditions file", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|", section, flags=re.M)
    assert [k for k, _ in rows] == [f.name for f in fields(Conditions)]
    defaults = Conditions()
    for key, shown in rows:
        value = getattr(defaults, key)
        text = shown.strip().strip("`")
        base, power, exponent = text.partition("^")
        expected = int(base) ** int(exponent) if power else json.loads(text)
        assert expected == value, (key, shown, value)
    example = re.search(r"```json\n(.*?)\n```", section, flags=re.S).group(1)
    (tmp_path / "c.json").write_text(example)
    c = JsonConditions(tmp_path / "c.json").read()
    assert (c.network, c.charging, c.local_hour) == ("metered", False, 14.5)
