"""Turn a pydantic `ValidationError` into one line that names the setting at fault.

Settings come from people (`--policy`, a TOML file, a hand-edited `config.json`); the answer
to a typo must be one readable line, not pydantic's multi-line report or a traceback later.

    >>> one_line(exc, prefix="policy")
    'policy.intervl: unknown setting (known: interval, jitter, ...)'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import ValidationError

_UNKNOWN = ("extra_forbidden", "unexpected_keyword_argument")


def one_line(
    exc: ValidationError,
    prefix: str = "",
    known: Iterable[str] | Mapping[tuple, Iterable[str]] = (),
) -> str:
    """Every error of `exc` as `key: problem`, joined by `; ` (one line).

    `known` lists the valid keys, for a hint after an unknown one: a list for the top level,
    or a mapping from a parent location (`()`, `("rules",)`) to its keys.
    """
    table = dict(known) if isinstance(known, Mapping) else {(): list(known)}
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        if err["type"] in _UNKNOWN:
            names = sorted(table.get(tuple(err["loc"][:-1]), ()))
            hint = f" (known: {', '.join(names)})" if names else ""
            parts.append(f"{loc}: unknown setting{hint}")
        else:
            msg = err["msg"]
            value = err.get("input")
            shown = "" if isinstance(value, dict | list) else f", got {value!r}"
            parts.append(f"{loc}: {msg}{shown}")
    return "; ".join(parts).replace("\n", " ")
