"""An operator account for tests and benchmarks that read the operator API.

headers = operator_headers(repo)            # {"authorization": "Bearer op.tester..."}
httpx.get(f"{url}/v1/fleet", headers=headers)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_cache: dict[tuple[str, str, str], str] = {}


def operator_token(repo: Any, name: str = "tester", role: str = "operator") -> str:
    """A secret for `name` in the repository's operator book (made once per process)."""
    from litefleet.registry.operators import OperatorBook
    from litefleet.registry.repository import Repository

    repo = repo if isinstance(repo, Repository) else Repository(Path(repo))
    key = (str(repo.keys.path), name, role)
    book = OperatorBook(repo.keys.path)
    if key not in _cache or book.get(name) is None:
        _cache[key] = book.add(name, role)
    return _cache[key]


def operator_headers(repo: Any, name: str = "tester", role: str = "operator") -> dict[str, str]:
    return {"authorization": f"Bearer {operator_token(repo, name, role)}"}
