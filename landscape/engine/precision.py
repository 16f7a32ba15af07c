"""Numerical precision of the landscape's forward passes: ``fp32``, ``tf32`` or ``bf16``.

The scope is :func:`swa.precision.precision_scope`, shared with training and ``swa.evaluation``
so that a precision means the same arithmetic everywhere (its docstring defines the three).

Losses at ``tf32``/``bf16`` agree with ``fp32`` to about 1e-2 relative (tests/engine/test_precision.py
on CPU; on a GPU when one is lent): enough to draw a landscape, not to compare two
checkpoints whose losses differ in the third digit.
"""

from __future__ import annotations

from swa.precision import PRECISIONS, precision_scope

__all__ = ["PRECISIONS", "precision_scope"]
