"""The settings tables of docs/device.md, generated from the settings classes."""

from __future__ import annotations

from dataclasses import fields

from litefleet.device.policy.rules import DownloadRules, Escalation
from litefleet.device.policy.strategies import Policy, SmartPolicy


def setting_docs(cls: type) -> list[tuple[str, str, object, str]]:
    """(name, type, default, meaning) of every setting of a strategy or of the rules: the
    table in docs/device.md is checked against this."""
    out = []
    for f in fields(cls):
        info = None
        for klass in cls.__mro__:
            info = getattr(klass, "__pydantic_fields__", {}).get(f.name)
            if info is not None and info.description:
                break
        default = info.get_default(call_default_factory=True) if info else None
        if isinstance(default, DownloadRules | Escalation):
            default = "see below"
        typ = getattr(f.type, "__name__", None) or str(f.type)
        out.append((f.name, str(typ), default, (info.description or "") if info else ""))
    return out


def _type_name(typ: str) -> str:
    return {
        "Seconds": "seconds",
        "float": "number",
        "int": "integer",
        "bool": "true/false",
        "DownloadRules": "table",
        "Escalation | None": "table",
        "tuple[Step, ...]": "list of steps",
    }.get(typ, "[start, end] hours or []" if "tuple" in typ else typ)


def _default(value: object) -> str:
    if value is None:
        return "none (any time)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def settings_markdown() -> str:
    """The settings tables of docs/device.md, generated from the classes themselves (a test
    checks that the page holds exactly this text, so the docs cannot drift)."""
    rows = [
        "| setting | type | default | strategies | meaning |",
        "|---|---|---|---|---|",
    ]
    smart_only = {f.name for f in fields(SmartPolicy)} - {f.name for f in fields(Policy)}
    for name, typ, default, meaning in setting_docs(SmartPolicy):
        where = "smart" if name in smart_only else "all"
        if name == "rules":
            where, default = "conditional, smart", "see below"
        text = " ".join(meaning.split())
        rows.append(f"| `{name}` | {_type_name(typ)} | {_default(default)} | {where} | {text} |")
    rows += _nested_table("Download rules (`[rules]`", "rule", DownloadRules)
    rows += _nested_table("Escalation (`[rules.escalation]`", "setting", Escalation)
    return "\n".join(rows) + "\n"


def _nested_table(title: str, column: str, cls: type) -> list[str]:
    """The settings table of a nested section (`[rules]`, `[rules.escalation]`)."""
    rows = [
        "",
        f"{title}; the conditional and smart strategies):",
        "",
        f"| {column} | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for name, typ, default, meaning in setting_docs(cls):
        text = " ".join(meaning.split())
        if isinstance(default, tuple):
            default = "[" + ", ".join(f'"{x}"' for x in default) + "]"
        rows.append(f"| `{name}` | {_type_name(typ)} | {_default(default)} | {text} |")
    return rows
