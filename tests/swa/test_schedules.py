"""Learning-rate schedules against their published formulas and PyTorch's own schedulers."""

from __future__ import annotations


import pytest
import torch

from swa.errors import ConfigError
from swa.schedules import SWAReference, build_schedule


def _paper_cyclic(i: int, a1: float, a2: float, c: int) -> float:
    # Izmailov et al. 2018, eq. (2), with i starting at 1.
    t = (((i - 1) % c) + 1) / c
    return (1 - t) * a1 + t * a2


def test_cyclic_matches_paper_formula():
    sched = build_schedule("cyclic", lr=0.05, lr_min=0.0005, swa_lr=0.01, horizon=0, cycle=3, gamma=0.1,
                           milestones=(), epochs=9, iters_per_epoch=7)
    c = 3 * 7
    for step in range(9 * 7):
        assert sched(step) == pytest.approx(_paper_cyclic(step + 1, 0.05, 0.0005, c), rel=1e-12)
    # The cycle ends (where SWA collects) sit exactly at the minimum.
    assert sched(c - 1) == pytest.approx(0.0005)


def test_learning_rate_applied_at_every_iteration_of_a_cyclic_run(small_config):
    """Acceptance 2: observe the rate the optimizer really uses, through a global step hook."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    from swa.trainer import train

    seen: list[float] = []
    handle = register_optimizer_step_pre_hook(lambda opt, args, kwargs: seen.append(opt.param_groups[0]["lr"]))
    try:
        result = train(small_config(epochs=4, method="swa", lr_schedule="cyclic", lr=0.1, lr_min=0.001,
                                    cycle=2, swa_start=0), progress=False)
    finally:
        handle.remove()
    iters = result.metrics[0]["iteration"]
    assert iters == 11  # 1347 digits = 10 batches of 128 + one of 67
    c = 2 * iters
    assert len(seen) == 4 * iters
    for i, lr in enumerate(seen, start=1):
        assert lr == pytest.approx(_paper_cyclic(i, 0.1, 0.001, c), rel=1e-12, abs=0)
    # Points are collected at the end of each cycle, i.e. at the minimal rate.
    assert [p["epoch"] for p in result.trajectory] == [2, 4]
    assert all(p["lr"] == pytest.approx(0.001) for p in result.trajectory)


def _reference_swa_schedule(epoch: int, lr_init: float, swa_lr: float, swa_start: int) -> float:
    # As written in the SWA reference code's train.py (learning_rate per 0-based epoch).
    t = epoch / swa_start
    lr_ratio = swa_lr / lr_init
    if t <= 0.5:
        factor = 1.0
    elif t <= 0.9:
        factor = 1.0 - (1.0 - lr_ratio) * (t - 0.5) / 0.4
    else:
        factor = lr_ratio
    return lr_init * factor


def test_swa_reference_schedule():
    sched = SWAReference(lr=0.1, lr_final=0.05, horizon_epochs=20, iters_per_epoch=5)
    for step in range(30 * 5):
        assert sched(step) == pytest.approx(_reference_swa_schedule(step // 5, 0.1, 0.05, 20), rel=1e-12)
    assert SWAReference(0.1, 0.02, 0, 5)(0) == 0.02


def test_cosine_matches_torch_scheduler_per_iteration():
    sched = build_schedule("cosine", lr=0.2, lr_min=0.002, swa_lr=0.1, horizon=0, cycle=1, gamma=0.1,
                           milestones=(), epochs=5, iters_per_epoch=4)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20, eta_min=0.002)
    for step in range(20):
        assert sched(step) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9)
        opt.step()
        ref.step()


def test_step_matches_torch_multistep_per_epoch():
    sched = build_schedule("step", lr=0.1, lr_min=0.0, swa_lr=0.1, horizon=0, cycle=1, gamma=0.2,
                           milestones=(3, 6), epochs=8, iters_per_epoch=3)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    ref = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 6], gamma=0.2)
    for epoch in range(8):
        for k in range(3):
            assert sched(epoch * 3 + k) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        opt.step()
        ref.step()


def test_unknown_schedule_lists_choices():
    with pytest.raises(ConfigError, match="constant, cyclic, swa, step, cosine"):
        build_schedule("linear", lr=0.1, lr_min=0, swa_lr=0.1, horizon=0, cycle=1, gamma=0.1, milestones=(),
                       epochs=1, iters_per_epoch=1)
