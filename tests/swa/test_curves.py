"""Mode-connecting curves (issue 23), the training half: the coefficients against their closed forms, the
endpoints exact, a toy problem whose straight-line barrier is known, and the checks of the configuration.

References: the Bernstein polynomials and hat functions written out by hand; for the toy, the loss
(‖w‖² − 1)² with endpoints (1, 0) and (−1, 0), whose straight line crosses w = 0 at t = ½ (loss 1, the
barrier, analytically) while a path around the circle stays near 0.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from landscape.compute.curve import barrier
from swa.curves import CurveConfig, coefficients, curve_lr, load_curve, train_curve
from swa.errors import UserError

T = torch.tensor([0.0, 0.1, 0.25, 0.5, 0.7, 1.0], dtype=torch.float64)


def test_bezier_coefficients_are_the_bernstein_polynomials():
    c3 = coefficients("bezier", T, 3)
    want3 = torch.stack([(1 - T) ** 2, 2 * T * (1 - T), T ** 2], dim=1)
    c4 = coefficients("bezier", T, 4)
    want4 = torch.stack([(1 - T) ** 3, 3 * T * (1 - T) ** 2, 3 * T ** 2 * (1 - T), T ** 3], dim=1)
    assert torch.allclose(c3, want3, rtol=0, atol=1e-15) and torch.allclose(c4, want4, rtol=0, atol=1e-15)
    assert torch.equal(c3[0], torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    assert torch.equal(c4[-1], torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64))


def test_polychain_coefficients_are_the_hat_functions():
    def hat(t, n):  # the slow obvious way: which segment, and how far along it
        out = [0.0] * n
        seg = min(int(t * (n - 1)), n - 2)
        frac = t * (n - 1) - seg
        out[seg], out[seg + 1] = 1 - frac, frac
        return out

    for n in (3, 5):
        want = torch.tensor([hat(float(t), n) for t in T], dtype=torch.float64)
        assert torch.allclose(coefficients("polychain", T, n), want, atol=1e-15)
        assert torch.allclose(coefficients("polychain", T, n).sum(1), torch.ones(len(T), dtype=torch.float64))


def test_schedule_is_the_references():
    lrs = [curve_lr(0.1, e, 10) for e in range(1, 11)]
    assert lrs[:5] == [0.1] * 5  # e/E <= 0.5
    assert lrs[5] == pytest.approx(0.1 * (1 - 0.1 / 0.4 * 0.99)) and lrs[8] == pytest.approx(0.1 * 0.01)
    assert lrs[9] == pytest.approx(0.001)


class Ring(nn.Module):
    """A model whose every output is ‖w‖² − 1: the MSE against 0 is (‖w‖² − 1)²."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))

    def forward(self, x):
        return (self.w.pow(2).sum() - 1).expand(x.shape[0], 1)


A, B = {"w": torch.tensor([1.0, 0.0])}, {"w": torch.tensor([-1.0, 0.0])}
X, Y = torch.zeros(64, 1), torch.zeros(64, 1)
RING = CurveConfig(epochs=30, lr=0.05, weight_decay=0.0, batch_size=8, init_noise=0.01, device="cpu")


def ring_loss(w: torch.Tensor) -> float:
    return float((w.double().pow(2).sum() - 1) ** 2)


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    out = tmp_path_factory.mktemp("ring")
    curve, history = train_curve(Ring(), A, B, X, Y, "regression", RING, out=out, progress=False)
    return curve, history, out


@pytest.mark.slow  # the ring's training (over 1 s): not in make test-fast
def test_the_trained_curve_goes_around_the_barrier_of_the_line(ring):
    curve, history, _ = ring
    ts = np.linspace(0, 1, 101)
    line = [ring_loss((1 - t) * A["w"] + t * B["w"]) for t in ts]
    assert barrier(ts, line) == pytest.approx(1.0, abs=1e-12)  # (0 − 1)² at t = ½, endpoints at 0
    on_curve = [ring_loss(curve.point(float(t))["w"]) for t in ts]
    assert barrier(ts, on_curve) < 0.1
    assert abs(float(curve.bends[1]["w"][1])) > 0.5  # the middle bend left the line (the x axis)
    assert history[-1]["train_loss"] < history[0]["train_loss"]


@pytest.mark.slow
def test_endpoints_are_exact_and_the_file_loads_weights_only(ring):
    curve, _, out = ring
    assert torch.equal(curve.point(0.0)["w"], A["w"]) and torch.equal(curve.point(1.0)["w"], B["w"])
    assert torch.equal(curve.bends[0]["w"], A["w"]) and torch.equal(curve.bends[-1]["w"], B["w"])  # fixed
    loaded, doc = load_curve(out / "curve.pt")
    assert all(torch.equal(a["w"], b["w"]) for a, b in zip(loaded.bends, curve.bends))
    assert doc["config"]["kind"] == "bezier" and len(doc["history"]) == RING.epochs


@pytest.mark.slow
def test_free_ends_move_and_a_resumed_call_changes_nothing(ring, tmp_path):
    curve, _, out = ring
    again, _ = train_curve(Ring(), A, B, X, Y, "regression", RING, out=out, progress=False)  # all epochs done
    assert all(torch.equal(a["w"], b["w"]) for a, b in zip(again.bends, curve.bends))
    free = CurveConfig(**{**RING.to_json(), "fix_ends": False, "epochs": 3})
    moved, _ = train_curve(Ring(), A, B, X, Y, "regression", free, progress=False)
    assert not torch.equal(moved.bends[0]["w"], A["w"])


def test_an_interrupted_training_resumes_bitwise(tmp_path):
    """Stopped after epoch 2 by an exception in the progress line (a stand-in for SIGKILL, which
    tests/compute/test_curve.py sends to a real process), then resumed."""
    cfg = CurveConfig(**{**RING.to_json(), "epochs": 5})
    full, _ = train_curve(Ring(), A, B, X, Y, "regression", cfg, progress=False)

    def stop(line):
        if line.startswith("curve epoch 2/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_curve(Ring(), A, B, X, Y, "regression", cfg, out=tmp_path, progress=True, log=stop)
    resumed, history = train_curve(Ring(), A, B, X, Y, "regression", cfg, out=tmp_path, progress=False)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5]
    assert all(torch.equal(a["w"], b["w"]) for a, b in zip(resumed.bends, full.bends))


@pytest.mark.slow
def test_other_inputs_in_the_directory_are_refused(ring):
    _, _, out = ring
    with pytest.raises(UserError, match="other inputs"):
        train_curve(Ring(), A, {"w": torch.tensor([0.0, 1.0])}, X, Y, "regression", RING, out=out, progress=False)


@pytest.mark.parametrize("changes, match", [
    ({"bends": 2}, "`bends` must be an integer >= 3"), ({"kind": "spline"}, "`kind` must be one of"),
    ({"epochs": 0}, "`epochs`"), ({"lr": float("nan")}, "`lr`"), ({"momentum": 1.0}, "`momentum`"),
    ({"weight_decay": -1.0}, "`weight_decay`"), ({"batch_size": 1}, "`batch_size`"), ({"device": "tpu"}, "device"),
])
def test_bad_configuration_is_one_clear_error(changes, match):
    with pytest.raises(UserError, match=match):
        CurveConfig(**changes)


def test_nan_or_misfit_endpoints_are_refused():
    with pytest.raises(UserError, match="non-finite"):
        train_curve(Ring(), A, {"w": torch.tensor([float("nan"), 0.0])}, X, Y, "regression", RING, progress=False)
    with pytest.raises(UserError, match="does not fit"):
        train_curve(Ring(), A, {"w": torch.zeros(3)}, X, Y, "regression", RING, progress=False)
