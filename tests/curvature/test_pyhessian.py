"""Top eigenvalue and trace against PyHessian (dev dependency) on a small CNN with BatchNorm."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from landscape.curvature.hessian import HessianOperator
from landscape.engine.inputs import load_context
from landscape.curvature.objective import ModelObjective
from landscape.curvature.spectrum import top_eigenvalues_lanczos, trace_hutchpp
from swa.data import TensorData

pyhessian = pytest.importorskip("pyhessian")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")  # inside PyHessian
def test_top_eigenvalue_and_trace_agree_with_pyhessian(tiny_run):
    """Acceptance 3: same model (eval mode, its own BN buffers), same 256 training samples."""
    ctx = load_context(str(tiny_run.out), None, None)
    state = torch.load(tiny_run.swa, weights_only=True)
    data = ctx.data
    subset = TensorData(data.x_train[:256], data.y_train[:256], data.x_test[:10], data.y_test[:10],
                        task=data.task, num_outputs=data.num_outputs)
    obj = ModelObjective(ctx.model, subset, state, bn_recompute=False)
    op = HessianOperator(obj)
    ours_top = top_eigenvalues_lanczos(op, k=1, tol=1e-8, seed=0).value[0]
    ours_trace = trace_hutchpp(op, matvecs=300, seed=0).value

    model = ctx.model
    model.load_state_dict(state)
    torch.manual_seed(0)
    h = pyhessian.hessian(model, F.cross_entropy, data=(subset.x_train, subset.y_train), cuda=False)
    their_top = h.eigenvalues(maxIter=200, tol=1e-6, top_n=1)[0][0]
    torch.manual_seed(0)
    their_trace = float(np.mean(h.trace(maxIter=300, tol=1e-6)))
    assert ours_top == pytest.approx(their_top, rel=0.01)
    assert ours_trace == pytest.approx(their_trace, rel=0.05)
