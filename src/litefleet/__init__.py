"""litefleet: from a Keras model to a fleet of edge devices, kept up to date safely.

The public API, imported lazily: `import litefleet` loads nothing heavy, and a name is
imported only when first used, so a device never pulls TensorFlow.

On a device (`litefleet[device]`):

    from litefleet import ModelRuntime, Agent, CheckResult
    result = Agent("/var/lib/litefleet").check()       # one verified update cycle
    with ModelRuntime("/var/lib/litefleet") as rt:     # the app's predictions, hot swap
        y = rt.predict(x)

On the build and release side (`litefleet[pipeline,server]`):

    from litefleet import build, Recipe, Repository, publish, change_rollout
    build(Recipe(), Path("out/v1"))
    repo = Repository.init(Path("repo"))
    publish(repo, Path("out/v1"), model="digits")
    change_rollout(repo, "digits", 1, "percent", 50)

See docs/api.md.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "ModelRuntime": "litefleet.device.runtime",
    "Agent": "litefleet.device.agent",
    "CheckResult": "litefleet.device.agent",
    "build": "litefleet.pipeline.build",
    "Recipe": "litefleet.pipeline.recipe",
    "Repository": "litefleet.registry.repository",
    "publish": "litefleet.registry.publish",
    "change_rollout": "litefleet.registry.rollout",
}

__all__ = [
    "Agent",
    "CheckResult",
    "ModelRuntime",
    "Recipe",
    "Repository",
    "__version__",
    "build",
    "change_rollout",
    "publish",
]

if TYPE_CHECKING:  # for type checkers and IDEs only; never imported at run time
    from litefleet.device.agent import Agent, CheckResult
    from litefleet.device.runtime import ModelRuntime
    from litefleet.pipeline.build import build
    from litefleet.pipeline.recipe import Recipe
    from litefleet.registry.publish import publish
    from litefleet.registry.repository import Repository
    from litefleet.registry.rollout import change_rollout


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'litefleet' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # next time, no lookup
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
