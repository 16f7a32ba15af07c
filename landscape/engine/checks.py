"""Checks of user-given numbers, shared by the command line and the Python API, and how they name the argument.

One validator serves both: it names the argument as the caller spells it, ``--max-distance`` on the
command line and ``max_distance`` in the Python API (``landscape.api`` runs under :func:`python_names`).
Every refusal is a :class:`~swa.errors.UserError` (a ``ValueError``) naming the argument, the value and
what is allowed.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
from typing import Any, Iterator, Optional

from swa.errors import UserError

__all__ = ["arg", "arg_value", "python_names", "check_int", "check_number"]

_PYTHON_NAMES = contextvars.ContextVar("landscape_python_names", default=False)


@contextlib.contextmanager
def python_names() -> Iterator[None]:
    """Within this block, messages name arguments as the Python API spells them (``max_distance``)."""
    token = _PYTHON_NAMES.set(True)
    try:
        yield
    finally:
        _PYTHON_NAMES.reset(token)


def arg(name: str, flag: Optional[str] = None) -> str:
    """``name`` (the Python spelling) as the caller knows it: ``--name-with-dashes`` (or ``flag``) on the
    command line, ``name`` in the Python API. A name that already starts with ``-`` is shown as is."""
    if name.startswith("-"):
        return name
    if _PYTHON_NAMES.get():
        return name
    return flag or "--" + name.replace("_", "-")


def arg_value(name: str, value: Any) -> str:
    """The argument with a value, as the caller writes it: ``--max-points 5000`` or ``max_points=5000``."""
    return f"{name}={value!r}" if _PYTHON_NAMES.get() else f"{arg(name)} {value}"


def check_int(value: Any, name: str, minimum: int) -> int:
    """``value`` as an ``int`` if it is an integer (not a bool) ``>= minimum``.

    Raises:
        UserError: otherwise, e.g. ``steps must be at least 2, got 1``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UserError(f"{arg(name)} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise UserError(f"{arg(name)} must be at least {minimum}, got {value!r}")
    return int(value)


def check_number(value: Any, name: str, *, minimum: float = 0.0, inclusive: bool = False) -> float:
    """``value`` as a ``float`` if it is a finite real number above ``minimum`` (or equal, with ``inclusive``).

    Raises:
        UserError: otherwise, e.g. ``delta must be a finite number > 0, got nan``.
    """
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
          and (value >= minimum if inclusive else value > minimum))
    if not ok:
        raise UserError(f"{arg(name)} must be a finite number {'>=' if inclusive else '>'} {minimum:g}, "
                        f"got {value!r}")
    return float(value)
