"""Result files in the toolkit's on-disk formats, made from analytic functions, for the plotting tests.

The plane's train loss is a quadratic bowl 0.01 + (x − x0)² + 2(y − y0)² with its
minimum at a known point, so that a figure's orientation can be checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

BOWL_MIN = (0.7, -0.4)


def bowl(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return 0.01 + (x - BOWL_MIN[0]) ** 2 + 2.0 * (y - BOWL_MIN[1]) ** 2


def _sidecar(kind: str, bn: str = "recompute", **extra) -> dict:
    return {"file": f"{kind}.npz", "inputs": {"command": kind, "model": {"name": "cnn_small", "kwargs": {}},
                                             "data": {"name": "digits"}},
            "settings": {"bn": None}, "bn_mode": bn, **extra}


def write_plane(out: Path, *, alphas=None, betas=None, regression: bool = False, nonfinite: bool = False,
                partial: bool = False) -> Path:
    """``out/plane.npz`` + ``plane.json``: the bowl on the grid (default 15 × 11 over [-1, 2] × [-2, 1.5])."""
    out.mkdir(parents=True, exist_ok=True)
    alphas = np.linspace(-1.0, 2.0, 15) if alphas is None else np.asarray(alphas, dtype=float)
    betas = np.linspace(-2.0, 1.5, 11) if betas is None else np.asarray(betas, dtype=float)
    x, y = np.meshgrid(alphas, betas, indexing="ij")
    train = bowl(x, y)
    test = 1.5 * train + 0.02
    acc = np.clip(1.0 - 0.05 * train, 0.0, 1.0)
    if nonfinite:
        train[-3:, -3:] = np.nan        # a diverged corner
        train[:2, :2] = np.inf
        test[-2:, :] = np.inf
        test[0, -1] = -np.inf
        acc[-3:, -3:] = np.nan
    if regression:
        acc = np.full_like(train, np.nan)
    done = np.ones_like(train, dtype=bool)
    if partial:
        done.reshape(-1)[-20:] = False
        for a in (train, test, acc):
            a.reshape(-1)[-20:] = np.nan
    anchors = np.array([[0.0, 0.0], [1.2, 0.0], [0.3, 0.9]])
    traj = np.array([[0.0, 0.0], [0.4, 0.3], [0.8, 0.5], [1.2, 0.0], [0.5, -0.3]])
    marked = np.array([[1.1, 0.1], [0.65, -0.35]])
    proj = np.concatenate([traj, marked])
    dist = np.array([0.0, 0.01, 0.02, 0.0, 0.01, 0.0, 0.6])
    np.savez(out / "plane.npz", alphas=alphas, betas=betas, train_loss=train, train_acc=acc, test_loss=test,
             test_acc=acc, anchors=anchors, trajectory=proj, trajectory_distance=dist, done=done)
    projections = [{"label": f"epoch {10 + i}", "x": float(p[0]), "y": float(p[1]), "distance": float(d),
                    "kind": "trajectory"} for i, (p, d) in enumerate(zip(traj, dist))]
    projections += [{"label": lab, "x": float(p[0]), "y": float(p[1]), "distance": float(d), "kind": "checkpoint"}
                    for lab, p, d in zip(("SGD final", "SWA"), marked, dist[len(traj):])]
    side = _sidecar("plane", anchors=[{"label": f"epoch {e}"} for e in (10, 13, 12)], projections=projections)
    (out / "plane.json").write_text(json.dumps(side))
    return out / "plane.npz"


def write_line(out: Path, end: str, *, length: float = 2.0, regression: bool = False,
               nonfinite: bool = False, start: str = "pretrained") -> Path:
    """``out/interp.npz``: a parabola in t with its minimum near t = 0.8."""
    out.mkdir(parents=True, exist_ok=True)
    t = np.linspace(-0.5, 1.5, 21)
    train = 0.02 + (t - 0.8) ** 2 * length
    test = train * 1.3 + 0.05
    acc = np.clip(1.0 - 0.1 * train, 0, 1)
    if nonfinite:
        train[-2:] = np.inf
        test[-1] = np.nan
    if regression:
        acc = np.full_like(t, np.nan)
    np.savez(out / "interp.npz", t=t, distance=t * length, train_loss=train, train_acc=acc, test_loss=test,
             test_acc=acc, done=np.ones_like(t, dtype=bool))
    side = _sidecar("interp", **{"from": {"label": start}, "to": {"label": end}, "length": length})
    (out / "interp.json").write_text(json.dumps(side))
    return out / "interp.npz"


def write_rays(out: Path, labels=("SGD final", "SWA"), *, k: int = 5, s: int = 9, regression: bool = False,
               nonfinite: bool = False, delta: float = 0.1, seed: int = 0) -> Path:
    """``out/rays.npz``: loss L0 + c·d² along each ray, curvature c drawn per direction; widths as computed."""
    from landscape.geometry.rays import ray_width, width_summary

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    d = np.linspace(0.0, 4.0, s)
    curv = rng.uniform(0.01, 0.05, size=(len(labels), k, 1)) * np.arange(1, len(labels) + 1)[::-1, None, None]
    train = 0.01 + curv * d ** 2
    test = train + 0.03
    acc = np.clip(1.0 - train, 0, 1)
    if nonfinite:
        train[0, 0, -2:] = np.inf
        test[0, 1, -1] = np.nan
    if regression:
        acc = np.full_like(train, np.nan)
    width = ray_width(d, train, delta)
    np.savez(out / "rays.npz", distances=d, train_loss=train, train_acc=acc, test_loss=test, test_acc=acc,
             width=width, done=np.ones_like(train, dtype=bool))
    side = _sidecar("rays", points=[{"label": lab} for lab in labels], delta=delta, normalization="unit",
                    width={lab: width_summary(w) for lab, w in zip(labels, width)})
    (out / "rays.json").write_text(json.dumps(side))
    return out / "rays.npz"


def write_sharpness(out: Path, labels=("SGD final", "SWA"), spectrum: bool = True) -> Path:
    """``out/sharpness.json`` in the format ``compute_sharpness`` writes (values made up)."""
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for i, lab in enumerate(labels):
        scale = 1.0 / (i + 1)
        metrics = {
            "hessian_top_eigenvalues": {"method": "lanczos", "value": [10 * scale, 6 * scale, 3 * scale],
                                        "uncertainty": [1e-3, 1e-3, 2e-3], "uncertainty_kind": "residual_norm"},
            "hessian_trace": {"method": "hutchpp", "value": 50 * scale, "uncertainty": 2.0 * scale,
                              "uncertainty_kind": "standard_error"},
            "eps_sharpness[eps=0.001, full]": {"lower_bound": True, "value": 3 * scale, "uncertainty": None,
                                               "uncertainty_kind": "none: a lower bound found by a local optimizer"},
            "pac_bayes_sigma": {"lower_bound": False, "value": 0.02 / scale, "uncertainty": 1e-4,
                                "uncertainty_kind": "width of the final bisection bracket"},
        }
        if spectrum:
            grid = np.linspace(-1, 12 * scale, 50)
            dens = np.exp(-grid ** 2) + 1e-3 * np.exp(-(grid - 10 * scale) ** 2)
            dens /= dens.sum() * (grid[1] - grid[0])
            metrics["hessian_spectrum"] = {"grid": grid.tolist(), "value": dens.tolist()}
        results[lab] = {"path": f"{lab}.pt", "metrics": metrics, "train_loss": 0.01, "test_acc": 0.98}
    doc = {"format": "swa-landscape-sharpness/1", "labels": list(labels), "results": results, "seed": 0,
           "inputs": {"model": {"name": "cnn_small", "kwargs": {}}, "data": {"name": "digits"}}}
    (out / "sharpness.json").write_text(json.dumps(doc))
    return out / "sharpness.json"


def write_run(out: Path, method: str = "swa", *, regression: bool = False, epochs: int = 12,
              pswa_period: Optional[int] = None) -> Path:
    """A run directory (manifest + metrics.jsonl) as the trainer writes it, with made-up curves."""
    from swa.config import TrainConfig
    from swa.data import DataSpec
    from swa.models import ModelSpec
    from swa.rundir import FORMAT

    out.mkdir(parents=True, exist_ok=True)
    kw = dict(swa_start=6, swa_lr=0.02) if method in ("swa", "pswa") else {}
    if method == "pswa":
        kw["pswa_period"] = pswa_period or 3
    cfg = TrainConfig(model=ModelSpec("mlp"), data=DataSpec("toy2d" if regression else "digits"), out=str(out),
                      epochs=epochs, lr=0.05, method=method, **kw)
    records = []
    for e in range(1, epochs + 1):
        acc = None if regression else 0.9 + 0.08 * (1 - np.exp(-e / 3))
        avg = e > 6 and method != "sgd"
        records.append({"epoch": e, "iteration": 10 * e, "lr": 0.05, "train_loss": 1.0 / e, "train_acc": acc,
                        "test_loss": 1.2 / e + 0.05, "test_acc": acc, "avg_test_loss": 1.1 / e if avg else None,
                        "avg_test_acc": (acc + 0.005 if acc else None) if avg else None})
    manifest = {"format": FORMAT, "status": "complete", "config": cfg.to_json(), "iters_per_epoch": 10,
                "task": "regression" if regression else "classification", "trajectory": []}
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return out
