"""The four metrics every evaluated point has, spelled once.

``train_loss``, ``test_loss``: per-sample mean losses (1/N) Σ_n ℓ(f(x_n), y_n) over the train and test
splits; ``train_acc``, ``test_acc``: the fraction of samples classified correctly, in [0, 1] (NaN for
regression). Every result array, export, sidecar and sharpness table names them in this order;
a ``forward_fn`` may add its own ``train_NAME`` / ``test_NAME`` after them.
"""

from __future__ import annotations

__all__ = ["METRICS"]

METRICS = ("train_loss", "train_acc", "test_loss", "test_acc")
