"""Hessian directions under torchrun (issue 21.2): computed once, on rank 0, and broadcast bitwise; each rank's
device from LOCAL_RANK."""

from __future__ import annotations

import json
import os

import pytest
import torch

from landscape.engine.distributed import Dist, rank_device

from support import ROOT, run_torchrun


@pytest.mark.slow
def test_two_ranks_use_rank_zeros_directions_bitwise(tmp_path):
    """One 2-process gloo run (tests/torchrun_directions.py): a Hessian plane and a Hessian line; rank 1 builds
    no Hessian objective and ends with bitwise the directions of rank 0; an error on rank 0 reaches rank 1."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    run = run_torchrun(["--standalone", "--nproc_per_node", "2", str(ROOT / "tests" / "torchrun_directions.py"),
                        str(tmp_path)], env)
    assert run.returncode == 0, run.stderr[-3000:]
    zero, one = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert zero["objectives"] == ["cpu", "cpu"] and one["objectives"] == []  # the plane's and the line's
    assert zero["plane"] == one["plane"] and zero["eigenvalues"] == one["eigenvalues"]
    assert len(zero["line"]) == 1 and zero["line"] == one["line"]  # the line's end point w_c + d, by digest
    assert run.stdout.count("directions: top two Hessian eigenvectors") == 1
    assert run.stdout.count("direction: top Hessian eigenvector") == 1
    assert zero["error"] == one["error"] == "refused on rank 0"


def test_rank_device_follows_local_rank_under_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert rank_device(torch.device("cuda")) == torch.device("cuda")  # one process: as given
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert rank_device(torch.device("cuda")) == torch.device("cuda", 3)  # not GPU 0 on every rank
    assert rank_device(torch.device("cuda", 0)) == torch.device("cuda", 3)
    assert rank_device(torch.device("cpu")) == torch.device("cpu")


def test_from_main_in_one_process_computes_once_and_returns_a_cpu_tensor():
    calls = []
    tensor, info = Dist().from_main(lambda: (calls.append(1) or torch.ones(2, 3, dtype=torch.float64), {"a": 1}))
    assert calls == [1] and info == {"a": 1} and tensor.device.type == "cpu" and tensor.dtype == torch.float64
