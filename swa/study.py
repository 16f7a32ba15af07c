"""The fine-tuning study the demo runs: the MNIST fine-tuning reimplementation's protocol, scaled down.

1. **Pretrain** the model with Adam (lr 1e-3) from seed 0: the common start.
2. **Tune** plain SGD's constant rate η on seed 0 over :data:`RATES`, choosing the rate whose final
   model has the lowest *training* loss (eval mode, full training set; the test set is never used
   for a choice).
3. **Fine-tune** from the pretrained weights with every method of :data:`METHODS`, one run per seed
   (the seed changes the batch order), rates tied to η as the study tied theirs (SGD 0.005 constant;
   step decay from 0.01; SWA between 0.005 and 0.01):

   ========== ===================================================================================
   sgd        SGD, constant rate η
   sgd-step   SGD, step decay from 2η, × 0.25 at 1/3 and 2/3 of the epochs
   swa-cyclic SWA from the start, cyclical rate 2η → η/2 (``cyclic_low``) within each 1-epoch cycle
   swa-const  SWA from the start, constant rate 2η
   pswa       PSWA from the start, constant rate 2η, 3 periods
   ========== ===================================================================================

Every run is a normal run directory (``swa.rundir``); a finished run with the same configuration is
reused, an interrupted one resumed, one of another configuration trained again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from swa.config import TrainConfig
from swa.data import DataSpec
from swa.models import ModelSpec
from swa.rundir import MANIFEST, portable_paths, read_manifest, open_run
from swa.trainer import train

__all__ = ["METHODS", "RATES", "StudySpec", "pretrain_config", "tuning_configs", "method_config", "train_or_reuse",
           "reported_checkpoint"]

METHODS = ("sgd", "sgd-step", "swa-cyclic", "swa-const", "pswa")
LABELS = {"sgd": "SGD (constant)", "sgd-step": "SGD (step decay)", "swa-cyclic": "SWA (cyclical)",
          "swa-const": "SWA (constant)", "pswa": "PSWA (p = 3)", "pretrained": "pretrained (Adam only)"}
RATES = (0.002, 0.005, 0.01, 0.02, 0.05)


@dataclass(frozen=True)
class StudySpec:
    """What the study runs on and how long.

    The defaults are the demo's. A reproduction sets ``model_spec``/``data_spec`` (a registered model
    and data set with their options), the pretraining (``pretrain_init`` for ImageNet weights,
    ``pretrain_train_only`` to train the final layer only), ``rates`` (one rate: no tuning) and
    ``cyclic_low`` (SWA's cyclical rate goes from 2η down to ``cyclic_low``·η). ``eval_freq``: how often
    (in epochs) the fine-tuning runs evaluate their average (the last epoch always; the demo: every 2nd).
    """

    out: Path
    data: str = "digits"
    epochs: int = 12  # fine-tuning epochs (a multiple of 3, for PSWA's periods and the step decay)
    pretrain_epochs: int = 6
    batch_size: int = 64
    device: str = "auto"
    model_spec: Optional[ModelSpec] = None  # default: cnn_small on digits, mlp otherwise
    data_spec: Optional[DataSpec] = None  # default: DataSpec(data)
    rates: tuple[float, ...] = RATES
    cyclic_low: float = 0.5
    pretrain_lr: float = 1e-3
    pretrain_init: Optional[str] = None
    pretrain_train_only: Optional[tuple[str, ...]] = None
    weight_decay: float = 5e-4
    eval_freq: int = 1

    @property
    def model(self) -> ModelSpec:
        if self.model_spec is not None:
            return self.model_spec
        return ModelSpec("cnn_small") if self.data == "digits" else ModelSpec("mlp")

    @property
    def dataset(self) -> DataSpec:
        return self.data_spec if self.data_spec is not None else DataSpec(self.data)

    def common(self, seed: int) -> dict:
        return dict(model=self.model, data=self.dataset, batch_size=self.batch_size, momentum=0.9,
                    weight_decay=self.weight_decay, seed=seed, device=self.device, eval_freq=self.eval_freq)


def pretrain_config(spec: StudySpec) -> TrainConfig:
    return TrainConfig(out=str(spec.out / "pretrain"), method="sgd", optimizer="adam", lr=spec.pretrain_lr,
                       lr_schedule="constant", epochs=spec.pretrain_epochs, init_from=spec.pretrain_init,
                       train_only=spec.pretrain_train_only,
                       **{**spec.common(0), "weight_decay": 0.0, "eval_freq": spec.pretrain_epochs})


def _start(spec: StudySpec) -> str:
    return str(spec.out / "pretrain" / "final.pt")


def tuning_configs(spec: StudySpec) -> dict[float, TrainConfig]:
    """Plain SGD at each of ``spec.rates`` on seed 0; none when there is a single rate to take as given."""
    if len(spec.rates) == 1:
        return {}
    return {rate: TrainConfig(out=str(spec.out / "tune" / f"lr-{rate:g}"), method="sgd", lr_schedule="constant",
                              lr=rate, epochs=spec.epochs, init_from=_start(spec), **spec.common(0))
            for rate in spec.rates}


def method_config(spec: StudySpec, method: str, seed: int, rate: float) -> TrainConfig:
    """The run of ``method`` with ``seed`` at the tuned rate η = ``rate`` (table in the module docstring)."""
    e = spec.epochs
    base = dict(out=str(spec.out / f"seed-{seed}" / method), epochs=e, init_from=_start(spec), **spec.common(seed))
    if method == "sgd":
        return TrainConfig(method="sgd", lr_schedule="constant", lr=rate, **base)
    if method == "sgd-step":
        return TrainConfig(method="sgd", lr_schedule="step", lr=2 * rate, lr_milestones=(e // 3, 2 * e // 3),
                           lr_gamma=0.25, **base)
    if method == "swa-cyclic":
        return TrainConfig(method="swa", lr_schedule="cyclic", lr=2 * rate, lr_min=spec.cyclic_low * rate, cycle=1,
                           swa_start=0, **base)
    if method == "swa-const":
        return TrainConfig(method="swa", lr_schedule="constant", lr=2 * rate, swa_lr=2 * rate, swa_start=0, **base)
    if method == "pswa":
        return TrainConfig(method="pswa", lr_schedule="constant", lr=2 * rate, swa_lr=2 * rate, swa_start=0,
                           pswa_period=e // 3, **base)
    raise ValueError(f"unknown method {method!r}; one of {', '.join(METHODS)}")


def train_or_reuse(config: TrainConfig, *, progress: bool = False,
                   log: Callable[[str], None] = lambda _: None) -> Path:
    """Train ``config`` unless its run directory already holds it finished (resumed if interrupted)."""
    run_dir = Path(config.out)
    if (run_dir / MANIFEST).exists():
        manifest = read_manifest(run_dir)
        if TrainConfig.upgraded_json(manifest["config"]) == portable_paths(config, run_dir).to_json():
            if manifest.get("status") == "complete":
                return run_dir
            log(f"resuming {run_dir}")
            train(out=run_dir, resume=True, progress=progress)
            return run_dir
    train(config, overwrite=True, progress=progress)
    return run_dir


def reported_checkpoint(run_dir: Path) -> Optional[Path]:
    """The model a method reports: the BN-updated average for SWA/PSWA, the final iterate otherwise."""
    run = open_run(run_dir)
    return run.checkpoint("swa") or run.checkpoint("final")
