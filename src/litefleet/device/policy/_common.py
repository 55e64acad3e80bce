"""What every part of the policy shares: time units, the settings' validation config and
the small numpy helpers of the array methods."""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from pydantic import ConfigDict, Field

HOUR = 3600.0
DAY = 24 * HOUR


def _nan_if_none(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


SETTINGS = ConfigDict(extra="forbid", use_attribute_docstrings=True)
"""Strategy settings are validated when built: an unknown key or a wrong type is refused."""

Hours = Annotated[float, Field(ge=0, le=24)]
Seconds = Annotated[float, Field(gt=0)]


def _arr(x: object, dtype: type = np.float64) -> np.ndarray:
    return np.asarray(x, dtype=dtype)


def _first(conditions: list, values: list, shape: tuple[int, ...]) -> np.ndarray:
    """int8 per element: the value of the first true condition, else 0 (`np.select`,
    cheaper on the length-1 arrays of the scalar wrappers)."""
    out = np.zeros(shape, dtype=np.int8)
    for cond, value in zip(reversed(conditions), reversed(values), strict=True):
        out = np.where(cond, np.int8(value), out)
    return out


def _pow2(exponent: np.ndarray) -> np.ndarray:
    # 2**e without overflow warnings: the waits are capped far below 2**1000 seconds
    return np.exp2(np.clip(exponent, -1, 1000).astype(np.float64))
