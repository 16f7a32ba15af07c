"""Mode-connecting curves (Garipov et al. 2018): a low-loss path between two solutions, trained for any model.

A curve through ``n`` bends θ₀, …, θₙ₋₁ in weight space (θ₀ = A and θₙ₋₁ = B, the two endpoints) is

    φ(t) = Σₖ cₖ(t) θₖ,  t ∈ [0, 1],

with the coefficients of a

* **Bezier** curve: cₖ(t) = C(n−1, k) tᵏ (1−t)ⁿ⁻¹⁻ᵏ (the Bernstein basis; 3 bends: a quadratic), or a
* **PolyChain**, the piecewise-linear path through the bends: cₖ(t) = max(0, 1 − |t(n−1) − k|).

Both give φ(0) = θ₀ and φ(1) = θₙ₋₁ exactly, and Σₖ cₖ(t) = 1.

Training (timgaripov/dnn-mode-connectivity, ``train.py``): the middle bends start on the straight line,
θₖ = A + k/(n−1)·(B − A); every batch draws one t ~ U(0, 1), evaluates the network at φ(t) through
``torch.func.functional_call`` (the architecture itself is never rewritten layer by layer), and takes an SGD
step with momentum on

    L(φ(t)) + ½·wd·‖φ(t)‖²

(the weight decay on the point of the curve, over every parameter, as the reference's ``l2_regularizer``; the
optimizer's own weight decay is 0). The endpoints stay fixed unless ``fix_ends=False``. The learning rate of
epoch e = 1..E is the reference's: lr while e/E ≤ 0.5, then linear down to 1% of it at e/E = 0.9, then 1%.

BatchNorm layers train in train mode (batch statistics); the running statistics the layers keep during
training are those of many different points and are not used: an evaluation recomputes them at every φ(t)
(``landscape.compute.curve``). BatchNorm's affine weight and bias are parameters like any other, one per bend,
as in the reference.

The state is saved atomically after every epoch (``curve_state.pt``); :func:`train_curve` on the same
directory resumes where it stopped, bitwise on a CPU (the shuffling, the draws of t and the torch generator
are restored). ``curve.pt`` holds the result: the bends as state dicts, loadable with ``weights_only=True``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import torch
import torch.nn as nn
from torch.func import functional_call
from tqdm.auto import tqdm

from swa.checkpoint import check_compatible, check_finite, state_digest
from swa.data import CLASSIFICATION
from swa.devices import check_device_name, resolve_device
from swa.errors import StaleResultsError, UserError
from swa.evaluation import batch_loss
from swa.io import save_torch
from swa.schedules import SWAReference

__all__ = ["CURVE_KINDS", "CURVE_FILE", "CURVE_STATE", "CurveConfig", "Curve", "coefficients", "curve_lr",
           "train_curve", "load_curve"]

CURVE_KINDS = ("bezier", "polychain")
CURVE_FILE = "curve.pt"
CURVE_STATE = "curve_state.pt"
FORMAT = 1


def coefficients(kind: str, t: torch.Tensor | Sequence[float] | float, bends: int) -> torch.Tensor:
    """The coefficients cₖ(t) of the ``bends`` bends at every ``t``, shape (len(t), bends), float64 (see the
    module docstring for both formulas)."""
    if kind not in CURVE_KINDS:
        raise UserError(f"`kind` must be one of {', '.join(CURVE_KINDS)}, got {kind!r}")
    t = torch.as_tensor(t, dtype=torch.float64).reshape(-1, 1)
    k = torch.arange(bends, dtype=torch.float64)
    n = bends - 1
    if kind == "bezier":
        binom = torch.tensor([math.comb(n, i) for i in range(bends)], dtype=torch.float64)
        return binom * t.pow(k) * (1 - t).pow(n - k)  # 0⁰ = 1: exact at both ends
    return torch.clamp(1 - (t * n - k).abs(), min=0.0)


def curve_lr(base_lr: float, epoch: int, epochs: int) -> float:
    """The reference's schedule at epoch ``epoch`` (1-based, as its ``train.py`` counts) of ``epochs``: base until
    half way, then linear to 1% of it at 90%, then 1%: the SWA reference's shape (:class:`swa.schedules.SWAReference`,
    horizon ``epochs``, final rate 1%), read at ``epoch``."""
    return SWAReference(lr=base_lr, lr_final=0.01 * base_lr, horizon_epochs=epochs, iters_per_epoch=1)(epoch)


@dataclass(frozen=True)
class CurveConfig:
    """How a curve is trained: ``CurveConfig(kind="bezier", bends=3, epochs=50)``.

    Args:
        kind: ``bezier`` or ``polychain``; bends: how many (>= 3: the two endpoints and at least one to train).
        epochs, lr, momentum, weight_decay, batch_size: SGD with momentum on the loss + ½·wd·‖φ(t)‖²; the
            reference's CIFAR recipe is 600 epochs at lr 0.015 and wd 5e-4 (VGG16) with batch size 128.
        fix_ends: keep the endpoints fixed (the reference's ``--fix_start --fix_end``).
        init_noise: standard deviation of Gaussian noise added to the middle bends at the start (drawn from
            ``seed``); 0, the default, starts them on the straight line, as the reference. A path that is
            symmetric about the line (a toy problem) needs it to leave the line at all.
        seed: the shuffling and the draws of t; device: ``auto``/``cpu``/``cuda``/``cuda:N``.

    Raises:
        UserError: a value out of range, naming the argument.
    """

    kind: str = "bezier"
    bends: int = 3
    epochs: int = 20
    lr: float = 0.015
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    fix_ends: bool = True
    init_noise: float = 0.0
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.kind not in CURVE_KINDS:
            raise UserError(f"`kind` must be one of {', '.join(CURVE_KINDS)}, got {self.kind!r}")
        for name, low in (("bends", 3), ("epochs", 1), ("batch_size", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise UserError(f"`{name}` must be an integer >= {low}, got {value!r}")
        for name, low, inclusive in (("lr", 0.0, False), ("momentum", 0.0, True), ("weight_decay", 0.0, True),
                                     ("init_noise", 0.0, True)):
            value = getattr(self, name)
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                  and (value >= low if inclusive else value > low))
            if not ok or (name == "momentum" and value >= 1):
                bound = "in [0, 1)" if name == "momentum" else f"{'>=' if inclusive else '>'} {low:g}"
                raise UserError(f"`{name}` must be a finite number {bound}, got {value!r}")
        check_device_name(self.device, flag="`device`")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Curve:
    """The bends of a trained curve: ``bends[k]`` is a state dict (every bend holds the endpoints' buffers,
    from the start point), ``names`` the parameters the curve moves (all the model's parameters)."""

    kind: str
    bends: list[dict[str, torch.Tensor]]
    names: list[str]

    def coefficients(self, t: torch.Tensor | Sequence[float] | float) -> torch.Tensor:
        return coefficients(self.kind, t, len(self.bends))

    def point(self, t: float) -> dict[str, torch.Tensor]:
        """φ(t) as a state dict (parameters Σₖ cₖ(t) θₖ in each parameter's dtype; buffers of the start)."""
        c = self.coefficients(t)[0]
        state = {k: v.clone() for k, v in self.bends[0].items()}
        for name in self.names:
            acc = sum(float(c[k]) * bend[name].double() for k, bend in enumerate(self.bends))
            state[name] = acc.to(self.bends[0][name].dtype)
        return state

    def to_file(self, config: CurveConfig, history: list[dict[str, Any]], endpoints: dict[str, str]) -> dict:
        return {"format": FORMAT, "kind": self.kind, "bends": self.bends, "names": self.names,
                "config": config.to_json(), "history": history, "endpoints": endpoints}


def load_curve(path: str | Path) -> tuple[Curve, dict[str, Any]]:
    """The curve of a ``curve.pt`` and the whole file (config, history, endpoints' digests).

    Raises:
        UserError: not a curve file.
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError) as exc:
        raise UserError(f"cannot read curve file {path} ({str(exc).splitlines()[0][:120]})") from None
    ok = (isinstance(obj, dict) and obj.get("kind") in CURVE_KINDS and isinstance(obj.get("bends"), list)
          and len(obj["bends"]) >= 3 and all(isinstance(b, dict) for b in obj["bends"])
          and isinstance(obj.get("names"), list) and all(n in b for b in obj["bends"] for n in obj["names"]))
    if not ok:
        raise UserError(f"{path} is not a curve file (kind, bends and names expected)")
    return Curve(obj["kind"], obj["bends"], list(obj["names"])), obj


class _CurveTrainer:
    """The training state: the bends (the fixed ones as tensors, the others as leaf tensors the optimizer
    updates), the optimizer, the generators of the shuffling and of t, and the history."""

    def __init__(self, model: nn.Module, start: Mapping[str, torch.Tensor], end: Mapping[str, torch.Tensor],
                 config: CurveConfig, device: torch.device) -> None:
        self.config, self.device = config, device
        self.model = copy.deepcopy(model).to(device).train()
        self.names = [name for name, _ in self.model.named_parameters()]
        self.buffers = {k: v.to(device).clone() for k, v in start.items() if k not in set(self.names)}
        n = config.bends
        noise = torch.Generator().manual_seed(config.seed + 2)
        self.bends: list[dict[str, torch.Tensor]] = []
        for k in range(n):
            alpha = k / (n - 1)
            bend = {}
            for name in self.names:
                a, b = start[name].to(device), end[name].to(device)
                value = a.clone() if k == 0 else b.clone() if k == n - 1 else a + alpha * (b - a)
                if 0 < k < n - 1 and config.init_noise > 0:
                    value = value + config.init_noise * torch.randn(a.shape, generator=noise).to(device, a.dtype)
                trainable = not (config.fix_ends and k in (0, n - 1))
                bend[name] = value.detach().requires_grad_(trainable)
            self.bends.append(bend)
        params = [v for bend in self.bends for v in bend.values() if v.requires_grad]
        self.optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=0.0)
        self.shuffle_gen = torch.Generator().manual_seed(config.seed)
        self.t_gen = torch.Generator().manual_seed(config.seed + 1)
        self.epoch = 0
        self.history: list[dict[str, Any]] = []

    def point(self, c: torch.Tensor) -> dict[str, torch.Tensor]:
        """The parameters at coefficients ``c`` (differentiable in the trainable bends)."""
        return {name: sum(c[k] * bend[name] for k, bend in enumerate(self.bends)) for name in self.names}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "history": self.history, "optimizer": self.optimizer.state_dict(),
                "bends": [{k: v.detach() for k, v in bend.items()} for bend in self.bends],
                "rng": {"torch": torch.get_rng_state(), "shuffle": self.shuffle_gen.get_state(),
                        "t": self.t_gen.get_state()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.history = int(state["epoch"]), list(state["history"])
        with torch.no_grad():
            for bend, saved in zip(self.bends, state["bends"]):
                for name in self.names:
                    bend[name].copy_(saved[name])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"]["torch"])
        self.shuffle_gen.set_state(state["rng"]["shuffle"])
        self.t_gen.set_state(state["rng"]["t"])

    def train_epoch(self, x: torch.Tensor, y: torch.Tensor, task: str, augment: Optional[Callable],
                    progress: bool) -> dict[str, Any]:
        cfg = self.config
        self.epoch += 1
        lr = curve_lr(cfg.lr, self.epoch, cfg.epochs)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        n = x.shape[0]
        steps = n // cfg.batch_size + (1 if n % cfg.batch_size > 1 else 0)  # a remainder of 1 joins the last
        perm = torch.randperm(n, generator=self.shuffle_gen).to(self.device)
        total, correct, seen = 0.0, 0, 0
        started = time.perf_counter()
        for b in tqdm(range(steps), desc=f"curve epoch {self.epoch}/{cfg.epochs}", leave=False,
                      disable=None if progress else True, unit="it"):
            idx = perm[b * cfg.batch_size:] if b == steps - 1 else perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            xb, yb = x[idx], y[idx]
            if augment is not None:
                xb = augment(xb, self.shuffle_gen)
            t = torch.rand(1, generator=self.t_gen, dtype=torch.float64)
            c = coefficients(cfg.kind, t, cfg.bends)[0].to(torch.float32).to(self.device)
            params = self.point(c)
            buffers = {k: v.clone() for k, v in self.buffers.items()}  # train mode updates them: keep the start's
            out = functional_call(self.model, {**params, **buffers}, (xb,))
            loss = batch_loss(out, yb, task)
            l2 = sum(p.pow(2).sum() for p in params.values())
            self.optimizer.zero_grad(set_to_none=True)
            (loss + 0.5 * cfg.weight_decay * l2).backward()
            self.optimizer.step()
            total += float(loss.detach()) * xb.shape[0]
            if task == CLASSIFICATION:
                correct += int((out.detach().argmax(1) == yb).sum())
            seen += xb.shape[0]
        train_loss = total / seen
        if not math.isfinite(train_loss):
            raise UserError(f"curve training diverged at epoch {self.epoch} (loss {train_loss}); lower `lr` "
                            f"(now {cfg.lr})")
        record = {"epoch": self.epoch, "lr": lr, "train_loss": train_loss,
                  "train_acc": correct / seen if task == CLASSIFICATION else None,
                  "seconds": time.perf_counter() - started}
        self.history.append(record)
        return record

    def curve(self) -> Curve:
        buffers = {k: v.detach().cpu().clone() for k, v in self.buffers.items()}
        bends = [{**{n: bend[n].detach().cpu().clone() for n in self.names}, **buffers} for bend in self.bends]
        return Curve(self.config.kind, bends, list(self.names))


def train_curve(model: nn.Module, start: Mapping[str, torch.Tensor], end: Mapping[str, torch.Tensor],
                x: torch.Tensor, y: torch.Tensor, task: str, config: CurveConfig = CurveConfig(), *,
                out: Optional[str | Path] = None, augment: Optional[Callable] = None, progress: bool = True,
                overwrite: bool = False, log: Callable[[str], None] = print) -> tuple[Curve, list[dict[str, Any]]]:
    """Train a curve from ``start`` to ``end`` (state dicts of ``model``'s architecture) on ``(x, y)``; returns
    the curve and the per-epoch history (``train_loss`` is the mean loss at the drawn points, without the
    weight-decay term). With ``out``, the state is saved after every epoch and a call on the same directory
    with the same inputs resumes (bitwise on a CPU), and one of other inputs is refused unless ``overwrite``
    (then training starts afresh); ``out/curve.pt`` holds the result.

    Raises:
        UserError: endpoints that do not fit the model, are not finite or are the same point;
            StaleResultsError: ``out`` holding a curve of other inputs (without ``overwrite``).
    """
    for label, state in (("start", start), ("end", end)):
        check_compatible(model, state, source=f"the curve's {label} point")
        check_finite(state, source=f"the curve's {label} point")
    device = resolve_device(config.device)
    names = [name for name, _ in model.named_parameters()]
    if all(torch.equal(start[n], end[n]) for n in names):
        raise UserError("the curve's start and end points hold the same weights: there is nothing to connect")
    endpoints = {"start": state_digest(start), "end": state_digest(end)}
    trainer = _CurveTrainer(model, start, end, config, device)
    state_path = Path(out) / CURVE_STATE if out is not None else None
    key = {"config": {k: v for k, v in config.to_json().items() if k != "device"}, "endpoints": endpoints,
           "task": task, "data": state_digest({"x": x, "y": y})}
    if state_path is not None and state_path.exists():
        try:
            saved = torch.load(state_path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, ValueError, EOFError) as exc:
            if not overwrite:
                raise UserError(f"cannot read {state_path} ({str(exc).splitlines()[0][:120]}); pass `overwrite=True` "
                                "to start afresh") from None
            saved = {}
        if saved.get("key") == key:
            trainer.load_state_dict(saved["state"])
            if trainer.epoch < config.epochs:
                log(f"resuming the curve in {out} at epoch {trainer.epoch + 1}/{config.epochs}")
        elif not overwrite:
            raise StaleResultsError(f"{out} holds a curve of other inputs (endpoints, data or training settings); "
                                    "use another directory or pass `overwrite=True`")
    x, y = x.to(device), y.to(device)
    while trainer.epoch < config.epochs:
        record = trainer.train_epoch(x, y, task, augment, progress)
        if state_path is not None:
            save_torch({"key": key, "state": trainer.state_dict()}, state_path)
        if progress:
            acc = "" if record["train_acc"] is None else f", train acc {record['train_acc']:.4f}"
            log(f"curve epoch {record['epoch']}/{config.epochs}: lr {record['lr']:.4g}, train loss "
                f"{record['train_loss']:.4f}{acc}")
    curve = trainer.curve()
    if out is not None:
        save_torch(curve.to_file(config, trainer.history, endpoints), Path(out) / CURVE_FILE)
    return curve, trainer.history
