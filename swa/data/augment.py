"""Batched, on-device training augmentation: random crop of a zero-padded image and random horizontal flip.

The standard augmentation of the SWA papers' image experiments (pad, crop back to
size, flip left-right for natural images), done for a whole batch with one
gather on the batch's device. All random numbers come from a CPU
:class:`torch.Generator`, so a run resumed from a saved generator state sees the
same augmented batches on any device.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["RandomCropFlip"]


class RandomCropFlip:
    """Random crop with zero padding, optionally followed by a random horizontal flip.

    For a batch ``x`` of shape ``(B, C, H, W)`` and padding ``p``, with ``P`` the
    batch zero-padded by ``p`` on every side::

        out[b, c, h, w] = P[b, c, i_b + h, j_b + w]              (not flipped)
        out[b, c, h, w] = P[b, c, i_b + h, j_b + W - 1 - w]      (flipped)

    with offsets ``i_b, j_b`` uniform on ``{0, ..., 2p}`` and, when ``flip`` is on,
    each image flipped with probability 1/2 — the distribution of torchvision's
    ``RandomCrop(H, padding=p)`` followed by ``RandomHorizontalFlip()``.

    Random numbers are drawn from ``generator`` on the CPU in a fixed order: the
    ``B`` row offsets, the ``B`` column offsets, then (only when ``flip`` is on)
    the ``B`` flip bits; they are then moved to ``x.device``.

    .. note::
        The padding is zero in the space of ``x``. Applied to normalized images,
        as :mod:`swa.data.vision` does, the border is the data set's mean colour
        rather than black.

    Args:
        padding: ``p >= 0``, pixels of zeros added on each side before cropping.
        flip: whether to flip images left-right at random (natural images; not digits).

    Raises:
        ValueError: ``padding`` is not a non-negative integer.
    """

    def __init__(self, padding: int, flip: bool) -> None:
        if not isinstance(padding, int) or isinstance(padding, bool) or padding < 0:
            raise ValueError(f"padding must be an integer >= 0, got {padding!r}")
        self.padding = padding
        self.flip = bool(flip)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment the batch ``x`` of shape ``(B, C, H, W)``; returns a new tensor of the same shape, dtype and device.

        Raises:
            ValueError: ``x`` is not 4-dimensional or ``generator`` is not a CPU generator.
        """
        if x.dim() != 4:
            raise ValueError(f"augmentation expects a batch of shape (B, C, H, W), got shape {tuple(x.shape)}")
        if generator.device.type != "cpu":
            raise ValueError(f"augmentation draws from a CPU generator, got one on {generator.device}")
        b, c, h, w = x.shape
        p = self.padding
        offsets = torch.randint(0, 2 * p + 1, (2, b), generator=generator)
        flips = torch.randint(0, 2, (b,), generator=generator).bool() if self.flip else torch.zeros(b, dtype=torch.bool)
        offsets, flips = offsets.to(x.device), flips.to(x.device)
        rows = offsets[0, :, None] + torch.arange(h, device=x.device)                 # (B, H)
        along = torch.arange(w, device=x.device)
        cols = offsets[1, :, None] + torch.where(flips[:, None], w - 1 - along, along)  # (B, W)
        padded = F.pad(x, (p, p, p, p)) if p else x
        # one gather over the flattened padded planes: index (i_b + h) * (W + 2p) + column, shared by the channels
        index = (rows[:, :, None] * (w + 2 * p) + cols[:, None, :]).view(b, 1, h * w).expand(b, c, h * w)
        return padded.flatten(2).gather(2, index).view(b, c, h, w)

    def to_json(self) -> dict[str, Any]:
        """The settings, for a run's sidecar JSON."""
        return {"random_crop_padding": self.padding, "horizontal_flip": self.flip}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(padding={self.padding}, flip={self.flip})"
