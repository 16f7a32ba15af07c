"""Issue 20: sharpness takes the Hessian PyHessian takes by default (eval mode, the checkpoint's own
BatchNorm statistics); recomputing the statistics at the point is asked for, changes it, and is recorded.

The reference is independent of the toolkit: the dense float64 Hessian of the eval-mode loss of a tiny
BatchNorm net over its flattened parameters (``torch.autograd.functional.hessian``), its largest
eigenvalue by ``numpy.linalg.eigvalsh``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

import landscape
from landscape.curvature.sharpness import BN_FIXED, BN_RECOMPUTED

from support import dense_eval_hessian, one_batch_bn_reference

EVAL = dict(progress=False, log=lambda _: None)  # no bar, no info lines


@pytest.fixture(scope="module")
def bn_net():
    """Linear(3,4) + BatchNorm1d(4) + Linear(4,2), 40 samples; stored BN statistics far from the data's."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2))
    bn = model[1]
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.5, 0.7, 1.2, 0.9]))
        bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
        bn.running_mean.copy_(torch.tensor([0.8, -0.6, 0.4, 1.0]))
        bn.running_var.copy_(torch.tensor([0.3, 2.5, 0.6, 1.8]))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 3, generator=g) * 1.5 + 0.5
    y = torch.randint(0, 2, (40,), generator=g)
    return model, model.state_dict(), x, y


def _top_dense_eigenvalue(model, x, y) -> float:
    """Largest eigenvalue of the dense float64 Hessian of the eval-mode cross-entropy over all parameters."""
    return float(np.linalg.eigvalsh(dense_eval_hessian(model, x, y))[-1])


def test_default_is_the_pyhessian_eval_mode_hessian(bn_net, tmp_path):
    model, state, x, y = bn_net
    reference = _top_dense_eigenvalue(model, x, y)  # the checkpoint's own running statistics, eval mode
    res = landscape.sharpness(model, [state], (x, y), metrics=["hessian_top_eigenvalues"], top_k=1, lanczos_tol=1e-8,
                              out=tmp_path, settings=landscape.Settings(**EVAL))
    top = res["point 0"]["metrics"]["hessian_top_eigenvalues"]["value"][0]
    assert top == pytest.approx(reference, rel=1e-4)
    assert res.bn == BN_FIXED and "PyHessian" in BN_FIXED
    doc = json.loads((tmp_path / "sharpness.json").read_text())
    assert doc["bn"] == BN_FIXED and doc["settings"]["bn_recompute"] is False
    assert f"BatchNorm: {BN_FIXED}" in (tmp_path / "sharpness.md").read_text()
    assert f"BatchNorm: {BN_FIXED}" in res.summary_line()
    # bn="fixed" spelled out is the same computation.
    fixed = landscape.sharpness(model, [state], (x, y), metrics=["hessian_top_eigenvalues"], top_k=1,
                                lanczos_tol=1e-8, settings=landscape.Settings(**EVAL, bn="fixed"))
    assert fixed["point 0"]["metrics"]["hessian_top_eigenvalues"]["value"][0] == pytest.approx(top, rel=1e-6)


def test_recompute_when_asked_changes_the_hessian_and_is_recorded(bn_net, tmp_path):
    model, state, x, y = bn_net
    default = _top_dense_eigenvalue(model, x, y)
    recomputed = _top_dense_eigenvalue(one_batch_bn_reference(model, x), x, y)  # statistics of all 40 inputs
    assert abs(recomputed - default) > 0.05 * abs(default)  # the two modes are different functions
    res = landscape.sharpness(model, [state], (x, y), metrics=["hessian_top_eigenvalues"], top_k=1, lanczos_tol=1e-8,
                              settings=landscape.Settings(**EVAL, bn="recompute"), out=tmp_path)
    top = res["point 0"]["metrics"]["hessian_top_eigenvalues"]["value"][0]
    assert top == pytest.approx(recomputed, rel=1e-4)
    assert res.bn == BN_RECOMPUTED and f"BatchNorm: {BN_RECOMPUTED}" in res.summary_line()
    doc = json.loads((tmp_path / "sharpness.json").read_text())
    assert doc["bn"] == BN_RECOMPUTED and doc["settings"]["bn_recompute"] is True
    assert f"BatchNorm: {BN_RECOMPUTED}" in (tmp_path / "sharpness.md").read_text()


def test_other_bn_modes_are_refused(bn_net):
    model, state, x, y = bn_net
    with pytest.raises(ValueError, match="`bn` must be 'fixed'.*'interpolate'"):
        landscape.sharpness(model, [state], (x, y), metrics=["hessian_trace"], trace_matvecs=3,
                            settings=landscape.Settings(**EVAL, bn="interpolate"))
