"""Checks of user-given numbers, shared by the command line and the Python API, and how messages name arguments.

Library errors (everything outside :mod:`landscape.cli`, :mod:`swa` included) name arguments in Python
words, with one convention everywhere (:func:`arg`, :func:`arg_value` write it):

- an argument is written between backticks: "`batch_size` must be at least 1, got 0";
- an argument with a value holds the value as Python writes it (``repr``) inside the same backticks:
  "`bn='interpolate'` needs two checkpoints", "pass `overwrite=True` to replace them", "`batch_size=0`";
- a placeholder is in capitals: "`data=NAME`".

The console script rewrites these into its flags in one place (:func:`landscape.cli.flags.to_flags`):
"--batch-size must be at least 1, got 0", "--bn interpolate", "pass --overwrite", "--data NAME". A
library message never spells a ``--flag`` itself. Every refusal is a :class:`~swa.errors.UserError` (a
``ValueError``) naming the argument, the value and what is allowed.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from swa.errors import UserError

__all__ = ["arg", "arg_value", "check_int", "check_number"]


def arg(name: str) -> str:
    """The argument ``name`` (its Python spelling) as messages write it, between backticks; a name that already
    starts with ``-`` (a flag the command line passes itself) is shown as is."""
    return name if name.startswith("-") else f"`{name}`"


def arg_value(name: str, value: Any) -> str:
    """The argument with a value, as messages write it: the value's ``repr`` in the backticks,
    e.g. "`max_points=5000`" ("--max-points 5000" on the command line)."""
    return f"`{name}={value!r}`"


def check_int(value: Any, name: str, minimum: int) -> int:
    """``value`` as an ``int`` if it is an integer (not a bool) ``>= minimum``.

    Raises:
        UserError: otherwise, e.g. "`steps` must be at least 2, got 1".
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UserError(f"{arg(name)} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise UserError(f"{arg(name)} must be at least {minimum}, got {value!r}")
    return int(value)


def check_number(value: Any, name: str, *, minimum: float = 0.0, inclusive: bool = False) -> float:
    """``value`` as a ``float`` if it is a finite real number above ``minimum`` (or equal, with ``inclusive``).

    Raises:
        UserError: otherwise, e.g. "`delta` must be a finite number > 0, got nan".
    """
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
          and (value >= minimum if inclusive else value > minimum))
    if not ok:
        raise UserError(f"{arg(name)} must be a finite number {'>=' if inclusive else '>'} {minimum:g}, "
                        f"got {value!r}")
    return float(value)
