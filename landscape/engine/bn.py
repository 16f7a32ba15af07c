"""What the BatchNorm buffers are at a point of weight space: one small strategy per ``--bn`` mode.

* ``recompute``: fresh running statistics from the training inputs at every point
  (``swa.bn.update_bn_exact``, exact or single-pass) — the SWA paper's choice;
* ``interpolate``: the buffers move with the weights, affine in the coordinates
  (b0 + α(b1 − b0) + β(b2 − b0) on a plane through three checkpoints);
* ``fixed``: the first point's buffers everywhere.

:data:`BN_STRATEGIES` is the registry; the command line reads its ``--bn`` choices from it.
A strategy is data, read by the evaluator: whether the buffers follow the weights (so the geometry builds
buffer directions) and whether they are recomputed at every point (else the point's own buffers are used).
"""

from __future__ import annotations

from typing import Optional

import torch.nn as nn

from swa.bn import has_batchnorm

__all__ = ["BNStrategy", "BN_STRATEGIES", "bn_strategy", "default_bn"]


class BNStrategy:
    """Base: ``follows_weights`` and ``recomputes``."""

    name = ""
    #: The geometry gives buffers their own directions (``interpolate``); otherwise a family's buffers are its base's.
    follows_weights = False
    #: Fresh statistics at every point, into the evaluator's private model; otherwise the point's buffers are used.
    recomputes = False

    def __repr__(self) -> str:
        return self.name


class Recompute(BNStrategy):
    name = "recompute"
    recomputes = True


class Interpolate(BNStrategy):
    name = "interpolate"
    follows_weights = True


class Fixed(BNStrategy):
    name = "fixed"


BN_STRATEGIES: dict[str, BNStrategy] = {s.name: s for s in (Recompute(), Interpolate(), Fixed())}


def bn_strategy(name: str | BNStrategy) -> BNStrategy:
    """The strategy called ``name``.

    Raises:
        ValueError: an unknown name (lists the known ones).
    """
    if isinstance(name, BNStrategy):
        return name
    try:
        return BN_STRATEGIES[name]
    except KeyError:
        raise ValueError(f"bn must be one of {', '.join(BN_STRATEGIES)}, got {name!r}") from None


def default_bn(model: nn.Module, bn: Optional[str]) -> str:
    """``bn`` if given; else ``recompute`` for a model with BatchNorm and ``fixed`` (which then changes nothing)."""
    if bn is not None:
        return bn_strategy(bn).name
    return "recompute" if has_batchnorm(model) else "fixed"
