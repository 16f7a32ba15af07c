"""Shared fixtures: seeded torch, the embedded digits data, a small-run config factory and a finished tiny run.

Plain helper functions the tests call live in ``tests/support.py`` (``from support import cli``).
"""

from __future__ import annotations

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest workers on two cores: one thread each, and the same for the processes the
    # tests start (set before torch is imported), so that a subprocess computes bitwise what the test does.
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

from support import digits_config  # noqa: E402


if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


#: The test files with the longest total time, longest first (``pytest --durations=0``, 2026-12-01: 117, 100, 84,
#: 46 s, ...). ``make test`` runs ``--dist loadfile --no-loadscope-reorder``: xdist hands the files out in collection
#: order, one at a time as workers free up, so starting with the longest ones keeps a worker from being left alone
#: with a long file at the end (the suite's wall time was a third above its CPU time / workers).
SLOWEST_FIRST = ("test_report.py", "test_repro.py", "test_cli.py", "test_bench_landscape.py", "test_api.py",
                 "test_landscape_cli.py", "test_fuzz_contents.py", "test_plot.py", "test_resume.py",
                 "test_plot_pages.py", "test_plot_cli.py", "test_measure.py", "test_labels.py", "test_around_plane.py",
                 "test_evaluator.py", "test_fuzz.py")


def pytest_collection_modifyitems(config, items):
    """The files of :data:`SLOWEST_FIRST` first (each file's tests stay together and in order); tests marked
    ``cuda`` need a CUDA GPU: skipped where torch sees none (scripts/gpu_check.sh runs them)."""
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    order = {id(item): i for i, item in enumerate(items)}
    items.sort(key=lambda item: (rank.get(item.path.name, len(rank)), order[id(item)]))
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run scripts/gpu_check.sh on a GPU machine)")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def digits():
    from swa.data import DataSpec, load_data

    return load_data(DataSpec("digits"))


@pytest.fixture
def small_config(tmp_path):
    """``small_config(**changes)``: :func:`digits_config` in ``tmp_path``."""
    return lambda out=None, **changes: digits_config(out or tmp_path / "run", **changes)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished SWA run on digits (cnn_small, width 4) with 4 trajectory points."""
    from swa.trainer import train

    config = digits_config(tmp_path_factory.mktemp("tiny") / "run", width=4, epochs=5, method="swa", swa_start=1,
                           swa_lr=0.03, eval_batch_size=1000)
    return train(config, progress=False)


@pytest.fixture(scope="module")
def small_mlp():
    """A ~60-parameter MLP with BatchNorm, three distinct states and 40 samples (each API call on it takes a
    fraction of a second): ``(model, [state, ...], (x, y))``."""
    from tiny_mlp import build

    torch.manual_seed(0)
    model = build(3, (4,))
    x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    states, params = [], dict(model.named_parameters())
    for i in range(3):  # parameters moved; BatchNorm's stored statistics kept valid (a variance stays > 0)
        gen = torch.Generator().manual_seed(i)
        states.append({k: (v + torch.randn(v.shape, generator=gen) if k in params else v.clone())
                       for k, v in model.state_dict().items()})
    return model, states, (x, y)
