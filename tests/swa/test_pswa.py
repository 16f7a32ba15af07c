"""Periodic SWA: restarts from each period's BN-updated average with fresh momentum; outputs the last average."""

from __future__ import annotations

import copy

import pytest
import torch

from swa.checkpoint import load_state_dict
from swa.trainer import train

from support import one_batch_bn_reference


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_pswa_periods(small_config, digits):
    """Acceptance 4."""
    snapshots = {}

    def capture(epoch, trainer):
        snapshots[epoch] = {
            "weights": {k: v.clone() for k, v in trainer.model.state_dict().items()},
            "momentum_buffers": len(trainer.optimizer.state),
        }

    config = small_config(epochs=7, method="pswa", swa_start=1, pswa_period=3, swa_lr=0.03, lr=0.05)
    result = train(config, progress=False, on_epoch_end=capture)
    traj = result.trajectory
    assert [(p["epoch"], p["period"]) for p in traj] == [(2, 1), (3, 1), (4, 1), (5, 2), (6, 2), (7, 2)]
    model = copy.deepcopy(result_model(result))
    names = [n for n, _ in model.named_parameters()]
    for period, boundary in ((1, 4), (2, 7)):
        points = [load_state_dict(result.out / p["path"]) for p in traj if p["period"] == period]
        running = snapshots[boundary]["weights"]
        for name in names:
            mean = torch.stack([p[name] for p in points]).mean(0)
            torch.testing.assert_close(running[name], mean, rtol=0, atol=1e-6, msg=f"period {period} {name}")
        # BatchNorm statistics of the restart point are recomputed for the average, exactly.
        model.load_state_dict(running)
        reference = one_batch_bn_reference(model, digits.x_train).state_dict()
        for key, value in ((k, v) for k, v in reference.items() if "running_" in k):
            torch.testing.assert_close(running[key], value, rtol=1e-5, atol=1e-6, msg=key)
        # Momentum was reset: the optimizer holds no state right after the restart.
        assert snapshots[boundary]["momentum_buffers"] == 0
    # Between boundaries SGD runs (momentum buffers exist) and moves away from the restart point.
    assert snapshots[5]["momentum_buffers"] > 0
    assert not torch.allclose(snapshots[5]["weights"][names[0]], snapshots[4]["weights"][names[0]])
    # The output is the last period's average.
    swa = load_state_dict(result.swa)
    for key, value in snapshots[7]["weights"].items():
        torch.testing.assert_close(swa[key].to(value.dtype), value, rtol=0, atol=1e-6, msg=key)
    last = [load_state_dict(result.out / p["path"]) for p in traj if p["period"] == 2]
    torch.testing.assert_close(swa[names[0]], torch.stack([p[names[0]] for p in last]).mean(0), rtol=0, atol=1e-6)
    # Each period's average is also kept as its own checkpoint.
    for period in (1, 2):
        assert (result.out / f"checkpoints/period_{period:03d}.pt").is_file()


def result_model(result):
    from swa.rundir import open_run

    return open_run(result.out).build_model()
