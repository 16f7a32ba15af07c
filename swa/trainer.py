"""The training loop: SGD, SWA (Izmailov et al. 2018) and Periodic SWA (Guo, Jin & Liu 2023).

* **SGD**: the model is trained with the configured optimizer and schedule.
* **SWA**: from ``swa_start`` on, the weights at the end of every ``cycle``
  epochs (the end of every cycle of a cyclical schedule) enter an equal-weight
  running average, w̄ ← w̄ + (w − w̄)/(n + 1), kept by
  ``torch.optim.swa_utils.AveragedModel``. The average's BatchNorm statistics are
  recomputed exactly (``swa.bn``) whenever it is evaluated and at the end.
* **PSWA**: as SWA, but at the end of every ``pswa_period`` epochs the running
  weights are replaced by the BN-updated average, the optimizer state (momentum)
  is reset and averaging restarts; the output is the last period's average.

Each collected point is saved as a ``state_dict`` of CPU tensors (loadable on a machine without
a GPU); the run directory (``swa.rundir``) records them in order. State is saved atomically after
every epoch, and :func:`train` with ``resume=True`` continues where the run stopped, with the
random state of the CPU, the shuffling and the training device's GPU. On a CPU the resumed run is
bitwise identical to an uninterrupted one (same machine and thread count). On CUDA it is so only
with ``deterministic=True`` (``--deterministic``, ``swa.determinism``): otherwise cuDNN's timed
algorithm choice and non-deterministic backward kernels make two runs, or a run and its
resumption, differ in the last bits from the first step on, and more as training goes on.

Training and its evaluations run at ``precision`` (``swa.precision``): full float32 (``fp32``, TF32
off on CUDA), TF32 tensor cores on CUDA (``tf32``), or bf16 autocast on CUDA (``bf16``).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from swa.bn import update_bn_exact
from swa.checkpoint import load_into, load_state_dict
from swa.config import TrainConfig
from swa.data import CLASSIFICATION, TensorData, load_data
from swa.determinism import NONDETERMINISTIC_OP, deterministic_scope
from swa.devices import resolve_device
from swa.errors import ConfigError, UserError
from swa.evaluation import batch_loss, evaluate
from swa.io import write_jsonl, save_torch, write_json
from swa.models import build_model
from swa.precision import autocast_scope, tf32_allowed, tf32_scope
from swa.rundir import (FORMAT, MANIFEST, METRICS_FILE, STATE, manifest_config, portable_paths, read_manifest,
                        read_metrics, resolved_paths, versions)
from swa.schedules import build_schedule

__all__ = ["train", "TrainResult", "build_optimizer"]

EpochCallback = Callable[[int, "Trainer"], None]


def build_optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:
    """SGD with momentum and L2 weight decay, or Adam (weight decay as L2 too)."""
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def trainable_parameters(model: nn.Module, prefixes: Optional[tuple[str, ...]]) -> list[nn.Parameter]:
    """The parameters the optimizer updates: all, or those whose name starts with one of ``prefixes``.

    The others get ``requires_grad=False`` (no gradient is computed for them). Frozen layers stay in
    the model's mode: a frozen BatchNorm layer still updates its running statistics in training mode,
    as in plain ``requires_grad`` fine-tuning.

    Raises:
        ConfigError: a prefix that matches no parameter (a typo would otherwise freeze everything).
    """
    named = list(model.named_parameters())
    if prefixes is None:
        return [p for _, p in named]
    unmatched = [pre for pre in prefixes if not any(n.startswith(pre) for n, _ in named)]
    if unmatched:
        names = sorted({n.split(".")[0] for n, _ in named})
        raise ConfigError(f"`train_only`: {', '.join(unmatched)} matches no parameter; top-level names: "
                          f"{', '.join(names[:12])}")
    kept = []
    for name, p in named:
        p.requires_grad_(name.startswith(prefixes))
        if p.requires_grad:
            kept.append(p)
    return kept


@dataclass
class TrainResult:
    """What a finished run produced (paths are absolute)."""

    out: Path
    final: Path
    swa: Optional[Path]
    metrics: list[dict[str, Any]]
    trajectory: list[dict[str, Any]]
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def summary_line(self) -> str:
        last = self.metrics[-1]
        parts = [f"{len(self.metrics)} epochs in {self.seconds:.1f}s", f"SGD test loss {last['test_loss']:.4f}"]
        if last.get("test_acc") is not None:
            parts[-1] += f" acc {last['test_acc']:.4f}"
        if self.swa is not None and last.get("avg_test_loss") is not None:
            part = f"average of {len(self.trajectory)} points test loss {last['avg_test_loss']:.4f}"
            if last.get("avg_test_acc") is not None:
                part += f" acc {last['avg_test_acc']:.4f}"
            parts.append(part)
        return f"trained {self.out}: " + "; ".join(parts)


def divergence_warnings(metrics: list[dict[str, Any]], task: str, num_outputs: int) -> list[str]:
    """Warnings for a run whose losses are finite but diverged.

    Two signs: the last epoch's training loss is more than 10× the lowest epoch's (it rose and
    stayed up); or, for classification with C classes, it is above 2·log C, twice the loss of a
    uniform guess.
    """
    losses = [r["train_loss"] for r in metrics if isinstance(r.get("train_loss"), (int, float))]
    if not losses:
        return []
    last, low = losses[-1], min(losses)
    out = []
    if last > 10 * low and last > losses[0]:
        out.append(f"the training loss rose from {low:.4g} to {last:.4g} (epoch {len(losses)}): the run diverged; "
                   "lower --lr")
    if task == CLASSIFICATION and num_outputs > 1 and last > 2 * math.log(num_outputs):
        out.append(f"the final training loss {last:.4g} is worse than twice a uniform guess's "
                   f"({math.log(num_outputs):.3g}): the run did not learn; lower --lr")
    return out


class Trainer:
    """One run. Use :func:`train`; the object is exposed to epoch callbacks."""

    def __init__(self, config: TrainConfig, data: TensorData, *, progress: bool = True) -> None:
        self.config = config
        self.data = data
        self.progress = progress
        self.out = Path(config.out)
        self.device = resolve_device(config.device)
        self.memory_format = (torch.channels_last if config.channels_last and self.device.type == "cuda"
                              else torch.contiguous_format)
        torch.manual_seed(config.seed)
        self.model = build_model(config.model, num_outputs=data.num_outputs, input_shape=data.input_shape)
        if config.init_from is not None:
            load_into(self.model, load_state_dict(config.init_from), source=f"--init-from {config.init_from}")
        self.model.to(self.device, memory_format=self.memory_format)
        self.optimizer = build_optimizer(config, trainable_parameters(self.model, config.train_only))
        n = data.x_train.shape[0]
        # A remainder of one sample joins the previous batch (BatchNorm cannot train on a batch of 1).
        self.iters_per_epoch = n // config.batch_size + (1 if n % config.batch_size > 1 else 0)
        horizon = config.swa_start if config.averaging else config.epochs
        self.schedule = build_schedule(
            config.lr_schedule, lr=config.lr, lr_min=config.lr_min, swa_lr=config.swa_lr, horizon=horizon,
            cycle=config.cycle, gamma=config.lr_gamma, milestones=config.lr_milestones, epochs=config.epochs,
            iters_per_epoch=self.iters_per_epoch)
        self.shuffle_gen = torch.Generator().manual_seed(config.seed)
        self.x_train = data.x_train.to(self.device)
        self.y_train = data.y_train.to(self.device)
        self.averager: Optional[AveragedModel] = AveragedModel(self.model) if config.averaging else None
        self.last_period_average: Optional[dict[str, torch.Tensor]] = None
        self.epoch = 0
        self.step = 0
        self.trajectory: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        self.determinism: dict[str, Any] = {}  # what --deterministic set (swa.determinism), for the manifest

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumption needs. ``rng["cuda"]`` holds the training device's CUDA generator state
        (one entry) when training on CUDA, else nothing: a CPU run never initializes CUDA.
        (``swa.io.save_torch`` writes the tensors as CPU tensors.)"""
        return {
            "epoch": self.epoch, "step": self.step,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "averager": None if self.averager is None else self.averager.state_dict(),
            "last_period_average": self.last_period_average,
            "trajectory": self.trajectory, "metrics": self.metrics,
            "rng": {"torch": torch.get_rng_state(), "shuffle": self.shuffle_gen.get_state(),
                    "cuda": [torch.cuda.get_rng_state(self.device)] if self.device.type == "cuda" else []},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.averager is not None:
            self.averager.load_state_dict(state["averager"])
        self.last_period_average = state["last_period_average"]
        self.trajectory = list(state["trajectory"])
        self.metrics = list(state["metrics"])
        torch.set_rng_state(state["rng"]["torch"])
        self.shuffle_gen.set_state(state["rng"]["shuffle"])
        # A CUDA run restores its device's generator: the first entry (runs written before kept one per
        # visible GPU, the first being the default device's). A run moved between CPU and GPU has none to restore.
        if state["rng"]["cuda"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"][0], self.device)

    # --------------------------------------------------------------- helpers
    def bn_updated(self, module: nn.Module) -> nn.Module:
        """A copy of ``module`` with exact BatchNorm statistics of the training inputs."""
        model = copy.deepcopy(module)
        update_bn_exact(model, self.x_train, batch_size=self.config.eval_batch_size, mode=self.config.bn_pass,
                        device=self.device)
        return model

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        x, y = (self.x_train, self.y_train) if split == "train" else (self.data.x_test, self.data.y_test)
        return evaluate(model, x, y, self.data.task, batch_size=self.config.eval_batch_size, device=self.device,
                        precision=self.config.precision, memory_format=self.memory_format)

    def _is_collection_epoch(self, epoch: int) -> bool:
        s = self.config.swa_start
        return s is not None and epoch > s and (epoch - s) % self.config.cycle == 0

    def _is_period_end(self, epoch: int) -> bool:
        s, p = self.config.swa_start, self.config.pswa_period
        return self.config.method == "pswa" and epoch > s and (epoch - s) % p == 0

    def _period(self, epoch: int) -> Optional[int]:
        if self.config.method != "pswa":
            return None
        return math.ceil((epoch - self.config.swa_start) / self.config.pswa_period)

    # ------------------------------------------------------------------ loop
    def train_epoch(self) -> dict[str, float]:
        """One pass over the shuffled training set; returns the running mean loss/accuracy."""
        cfg, data = self.config, self.data
        self.model.train()
        n = self.x_train.shape[0]
        perm = torch.randperm(n, generator=self.shuffle_gen).to(self.device)
        total_loss = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        seen = 0
        bar = tqdm(range(self.iters_per_epoch), desc=f"epoch {self.epoch + 1}/{cfg.epochs}", leave=False,
                   disable=None if self.progress else True, unit="it")  # None: off when not a TTY
        for b in bar:
            idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            if b == self.iters_per_epoch - 1:
                idx = perm[b * cfg.batch_size:]  # the last batch takes the remainder (never a batch of 1)
            xb, yb = self.x_train[idx], self.y_train[idx]
            if data.augment is not None:
                xb = data.augment(xb, self.shuffle_gen)
            if xb.dim() == 4:
                xb = xb.contiguous(memory_format=self.memory_format)
            lr = self.schedule(self.step)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            with autocast_scope(self.device, cfg.precision, cpu=False):
                out = self.model(xb)
            loss = batch_loss(out, yb, data.task)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.step += 1
            total_loss += loss.detach().double() * xb.shape[0]
            if data.task == CLASSIFICATION:
                correct += (out.detach().argmax(dim=1) == yb).sum()
            seen += xb.shape[0]
        loss_value = float(total_loss) / seen
        if not math.isfinite(loss_value):
            raise UserError(f"training diverged at epoch {self.epoch + 1} (loss {loss_value}); lower `lr` "
                            f"(now {cfg.lr}) or check the data")
        return {"loss": loss_value, "acc": float(correct) / seen if data.task == CLASSIFICATION else None}

    def collect(self) -> None:
        """Save the current weights as a trajectory point and add them to the average."""
        rel = f"checkpoints/point_{len(self.trajectory) + 1:04d}.pt"
        save_torch(self.model.state_dict(), self.out / rel)
        self.trajectory.append({"path": rel, "epoch": self.epoch, "iteration": self.step,
                                "lr": self.schedule(self.step - 1), "period": self._period(self.epoch)})
        if self.averager is not None:
            self.averager.update_parameters(self.model)

    def restart_period(self) -> None:
        """PSWA: running weights ← BN-updated average; optimizer state reset; averaging restarts."""
        average = self.bn_updated(self.averager.module)
        self.last_period_average = {k: v.detach().cpu().clone() for k, v in average.state_dict().items()}
        save_torch(self.last_period_average, self.out / f"checkpoints/period_{self._period(self.epoch):03d}.pt")
        self.model.load_state_dict(average.state_dict())
        self.optimizer.state.clear()
        self.averager = AveragedModel(self.model)

    def current_average(self) -> Optional[nn.Module]:
        """The BN-updated average to report: the running one, or PSWA's last finished period."""
        if self.averager is not None and int(self.averager.n_averaged) > 0:
            return self.bn_updated(self.averager.module)
        if self.last_period_average is not None:
            model = copy.deepcopy(self.model)
            model.load_state_dict(self.last_period_average)
            return model
        return None

    def run_epoch(self) -> dict[str, Any]:
        cfg = self.config
        started = time.perf_counter()
        lr_first = self.schedule(self.step)
        train = self.train_epoch()
        self.epoch += 1
        if self._is_collection_epoch(self.epoch):
            self.collect()
        if self._is_period_end(self.epoch):
            self.restart_period()
        test = self.evaluate(self.model, "test")
        record: dict[str, Any] = {
            "epoch": self.epoch, "iteration": self.step, "lr": lr_first,
            "train_loss": train["loss"], "train_acc": train["acc"], "test_loss": test["loss"], "test_acc": test["acc"],
            "n_averaged": len(self.trajectory) if cfg.averaging else 0,
            "avg_train_loss": None, "avg_train_acc": None, "avg_test_loss": None, "avg_test_acc": None,
        }
        if cfg.averaging and (self.epoch % cfg.eval_freq == 0 or self.epoch == cfg.epochs):
            average = self.current_average()
            if average is not None:
                a_train, a_test = self.evaluate(average, "train"), self.evaluate(average, "test")
                record.update(avg_train_loss=a_train["loss"], avg_train_acc=a_train["acc"],
                              avg_test_loss=a_test["loss"], avg_test_acc=a_test["acc"])
        record["seconds"] = time.perf_counter() - started
        self.metrics.append(record)
        return record

    # ------------------------------------------------------------ run files
    def manifest(self, status: str, final: Optional[str] = None, swa: Optional[str] = None) -> dict[str, Any]:
        config = portable_paths(self.config, self.out)  # user files relative to the run, or absolute
        return {
            "format": FORMAT, "status": status, "config": config.to_json(),
            "model": config.model.to_json(), "data": config.data.to_json(),
            "task": self.data.task, "num_outputs": self.data.num_outputs, "input_shape": list(self.data.input_shape),
            "iters_per_epoch": self.iters_per_epoch, "epochs_done": self.epoch, "versions": versions(),
            "trajectory": self.trajectory, "final": final, "swa": swa,
            "warnings": divergence_warnings(self.metrics, self.data.task, self.data.num_outputs),
            **({"determinism": self.determinism} if self.determinism else {}),
        }

    def save(self, status: str = "running", final: Optional[str] = None, swa: Optional[str] = None) -> None:
        save_torch(self.state_dict(), self.out / STATE)
        write_jsonl(self.metrics, self.out / METRICS_FILE)
        write_json(self.manifest(status, final, swa), self.out / MANIFEST)

    def finish(self) -> tuple[Path, Optional[Path]]:
        save_torch(self.model.state_dict(), self.out / "final.pt")
        swa_rel = None
        average = self.current_average() if self.config.averaging else None
        if average is not None:
            swa_rel = "swa.pt"
            save_torch({k: v.detach().cpu() for k, v in average.state_dict().items()}, self.out / swa_rel)
        self.save("complete", final="final.pt", swa=swa_rel)
        return self.out / "final.pt", None if swa_rel is None else self.out / swa_rel


def _format_row(r: dict[str, Any]) -> str:
    def f(v):
        return "      -" if v is None else f"{v:7.4f}"

    return (f"ep {r['epoch']:4d}  lr {r['lr']:.5f}  train {f(r['train_loss'])}/{f(r['train_acc'])}  "
            f"test {f(r['test_loss'])}/{f(r['test_acc'])}  avg test {f(r['avg_test_loss'])}/{f(r['avg_test_acc'])}"
            f"  {r['seconds']:.1f}s")


def train(config: Optional[TrainConfig] = None, *, out: Optional[str | Path] = None, resume: bool = False,
          overwrite: bool = False, device: Optional[str] = None, progress: bool = True,
          on_epoch_end: Optional[EpochCallback] = None, log: Optional[Callable[[str], None]] = None) -> TrainResult:
    """Train a run described by ``config``, or resume the run in ``out``.

    Args:
        config: the run's settings (ignored with ``resume``, which reads them from the manifest).
        out: run directory to resume (default ``config.out``).
        resume: continue the run in ``out`` from its last finished epoch.
        overwrite: allow starting a new run in a directory that already holds one.
        device: override the device on resume (``auto``/``cpu``/``cuda``/``cuda:N``).
        progress: show tqdm progress bars.
        on_epoch_end: called as ``fn(epoch, trainer)`` after each epoch's bookkeeping.
        log: where per-epoch lines go (default: ``tqdm.write`` when ``progress`` is on).

    The epochs run at ``config.precision`` (TF32 on for ``tf32`` only, ``swa.precision``) and, with
    ``config.deterministic``, with deterministic algorithms (``swa.determinism``); both are restored on return.

    Raises:
        UserError: a run already exists (without ``resume``/``overwrite``), nothing to
            resume, bad settings, data, model or checkpoints, or (``deterministic``) an operation
            of the model without a deterministic CUDA implementation.
    """
    started = time.perf_counter()
    out = Path(out if out is not None else config.out)
    state = None
    if resume:
        manifest = read_manifest(out)
        if manifest.get("status") == "complete":  # nothing left to do: report the run as it stands
            log = log or (tqdm.write if progress else (lambda _msg: None))
            log(f"{out} is complete; nothing to resume")
            metrics = read_metrics(out, epochs=manifest["config"].get("epochs"), required=("test_loss",))
            if not metrics:
                raise UserError(f"{out / METRICS_FILE} holds no epoch, yet {out / MANIFEST} says the run is complete")
            if manifest.get("final") is None:
                raise UserError(f"{out / MANIFEST}: status is complete but final is missing")
            return TrainResult(out=out, final=out / manifest["final"],
                               swa=None if manifest.get("swa") is None else out / manifest["swa"], metrics=metrics,
                               trajectory=manifest.get("trajectory", []), seconds=time.perf_counter() - started,
                               warnings=list(manifest.get("warnings", [])))
        config = resolved_paths(manifest_config(manifest, out / MANIFEST), out).with_changes(out=str(out))
        if device is not None:
            config = config.with_changes(device=device)
        if not (out / STATE).is_file():
            raise UserError(f"{out} has no saved state to resume from ({STATE} missing)")
        try:
            state = torch.load(out / STATE, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise UserError(f"cannot read resume state {out / STATE}: {exc}") from None
    else:
        if config is None:
            raise ValueError("`config` is required unless `resume=True`")
        config = config.with_changes(out=str(out))
        if (out / MANIFEST).exists() and not overwrite:
            raise UserError(f"{out} already holds a run; pass `resume=True` to continue it or `overwrite=True` to "
                            "replace it")
    data = load_data(config.data)
    trainer = Trainer(config, data, progress=progress)
    if log is None:
        log = tqdm.write if progress else (lambda _msg: None)
    if state is not None:
        try:
            trainer.load_state_dict(state)
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as exc:
            raise UserError(f"cannot resume from {out / STATE}: it does not fit this run ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:200]})") from None
        trainer.model.to(trainer.device)
        log(f"resuming {out} after epoch {trainer.epoch}/{config.epochs}")
    with tf32_scope(tf32_allowed(config.precision)), deterministic_scope(config.deterministic) as determinism:
        trainer.determinism = determinism
        if state is None:
            trainer.save("running")
        try:
            while trainer.epoch < config.epochs:
                record = trainer.run_epoch()
                trainer.save("running")
                log(_format_row(record))
                if on_epoch_end is not None:
                    on_epoch_end(trainer.epoch, trainer)
            final, swa_path = trainer.finish()
        except RuntimeError as exc:
            if NONDETERMINISTIC_OP not in str(exc):
                raise
            op = " ".join(str(exc).split(NONDETERMINISTIC_OP)[0].split()[-1:]) or "an operation"
            raise UserError(f"`deterministic=True`: {op} of this model has no deterministic implementation on "
                            f"{trainer.device}; train without `deterministic=True` (a resumed run is then not bitwise "
                            "identical)") from None
    return TrainResult(out=out, final=final, swa=swa_path, metrics=trainer.metrics,
                       trajectory=trainer.trajectory, seconds=time.perf_counter() - started,
                       warnings=divergence_warnings(trainer.metrics, data.task, data.num_outputs))
