"""Which optional extra provides a module: a device-only install says what to add.

`litefleet` ships three extras (see pyproject.toml): `device` (LiteRT, the TUF client and
`cryptography`), `pipeline` (TensorFlow and the build tools), `server` (the HTTP server,
telemetry).
A command that reaches for a module of another extra gets one line naming the extra
instead of a traceback.
"""

from __future__ import annotations

EXTRA_OF = {
    **dict.fromkeys(
        ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization", "sklearn"),
        "pipeline",
    ),
    "matplotlib": "pipeline",
    **dict.fromkeys(
        ("fastapi", "starlette", "uvicorn", "sqlalchemy", "prometheus_client"),
        "server",
    ),
    **dict.fromkeys(
        (
            "ai_edge_litert",
            "tuf",
            "securesystemslib",
            "cryptography",
            "bsdiff4",
            "zstandard",
            "httpx",
            "psutil",
            "urllib3",
            "paho",
        ),
        "device",
    ),
}


def missing_extra(exc: ImportError) -> str | None:
    """The one-line message for an import of another extra's module (None: not ours)."""
    name = (exc.name or "").split(".")[0]
    extra = EXTRA_OF.get(name)
    if extra is None:
        return None
    return (
        f"this command needs `litefleet[{extra}]` (module {name} is not installed):"
        f" pip install '<path to the litefleet checkout or wheel>[{extra}]'"
    )
