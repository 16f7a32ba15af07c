"""Reproduce the mode-connectivity curves of Garipov et al. (2018) on CIFAR-10 and CIFAR-100.

The recipe is the reference implementation's README (timgaripov/dnn-mode-connectivity), with this
toolkit's models (VGG-16 with BatchNorm in the reference's VGG16's place; PreResNet-164):

=================  ========================================================================
endpoints          two SGD runs of each model from seeds 0 and 1 (``train``): VGG-16 200 epochs,
                   lr 0.05, wd 5e-4; PreResNet-164 150 epochs, lr 0.1, wd 3e-4; batch 128,
                   momentum 0.9, the reference's schedule (constant to 50 %, linear to 1 % at
                   90 %), random crop and flip
curves             a Bezier curve and a polygonal chain of 3 bends between the two endpoints,
                   the ends fixed (``swa-landscape curve``): VGG-16 600 epochs, lr 0.015, wd
                   5e-4; PreResNet-164 200 epochs, lr 0.03, wd 3e-4; batch 128
evaluation         61 points along each curve and along the straight line, BatchNorm recomputed
                   at every point; train loss with the ½·wd·‖w‖² term (the reference's
                   ``tr_loss``) and test error, their min and max along the path
=================  ========================================================================

The reference's README reports (min/max train loss, min/max test error %), against which
``OUT/reproduction.md`` puts this run's numbers. Measured by this toolkit: **not yet run** at full scale
(GPU: days).

Run::

    python scripts/repro_mode_connectivity.py --data-root ~/data --download --out runs/mode-connectivity
    python scripts/repro_mode_connectivity.py --smoke --out /tmp/mc-smoke    # CPU, the test

``--smoke`` writes 32 + 16 random CIFAR-10 images in the real on-disk format and runs the whole pipeline for
one epoch with PreResNet-20 in PreResNet-164's place, 3 points per path.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.reprolib import Timer, parser, report_dpi, run_main, smoke_root, write_reproduction  # noqa: E402


@dataclass(frozen=True)
class Recipe:
    epochs: int            # each endpoint's SGD run
    lr: float
    weight_decay: float
    curve_epochs: int
    curve_lr: float
    batch_size: int = 128


RECIPES = {
    "vgg16_bn": Recipe(epochs=200, lr=0.05, weight_decay=5e-4, curve_epochs=600, curve_lr=0.015),
    "preresnet164": Recipe(epochs=150, lr=0.1, weight_decay=3e-4, curve_epochs=200, curve_lr=0.03),
}
#: --smoke: PreResNet-20 in PreResNet-164's place (the same pipeline for both models; VGG-16 at full scale only)
SMOKE = {"preresnet164": Recipe(epochs=1, lr=0.1, weight_decay=3e-4, curve_epochs=1, curve_lr=0.03, batch_size=16)}
SMOKE_NETWORK = {"preresnet164": ("preresnet20", {}), "vgg16_bn": ("vgg16_bn", {"width": 64})}
KINDS = {"bezier": "Bezier", "polychain": "Poly"}
#: the reference README's tables: (min train loss, max train loss, min test error %, max test error %)
EXPECTED = {
    "cifar100": {"vgg16_bn": {"endpoints": (0.89, 0.89, 27.5, 27.5), "bezier": (0.48, 0.89, 27.4, 30.1),
                              "polychain": (0.59, 1.05, 27.1, 30.8)},
                 "preresnet164": {"endpoints": (0.49, 0.49, 21.6, 21.7), "bezier": (0.26, 0.49, 21.3, 23.4),
                                  "polychain": (0.30, 0.49, 21.4, 23.6)}},
    "cifar10": {"vgg16_bn": {"endpoints": (0.24, 0.24, 6.79, 6.94), "bezier": (0.14, 0.24, 6.79, 7.75),
                             "polychain": (0.16, 0.27, 6.79, 8.08)},
                "preresnet164": {"endpoints": (0.18, 0.18, 4.76, 4.75), "bezier": (0.09, 0.18, 4.45, 4.97),
                                 "polychain": (0.11, 0.18, 4.39, 5.13)}},
}


def endpoint_configs(model: str, recipe: Recipe, data, out: Path, device: str, network) -> list:
    """The two SGD runs of ``model`` (seeds 0 and 1) that the curves connect."""
    from swa.config import TrainConfig

    return [TrainConfig(model=network, data=data, out=str(out / f"sgd-seed-{seed}"), method="sgd",
                        epochs=recipe.epochs, batch_size=recipe.batch_size, momentum=0.9,
                        weight_decay=recipe.weight_decay, lr=recipe.lr, lr_schedule="swa", swa_lr=0.01 * recipe.lr,
                        seed=seed, device=device) for seed in (0, 1)]


def path_numbers(curve_npz: Path, row: str) -> tuple[float, float, float, float]:
    """(min, max) of the train loss with its weight-decay term and of the test error along ``row`` (``""``: the
    curve, ``"line_"``: the straight line), from the reference's keys of ``curve.npz``."""
    d = np.load(curve_npz)
    loss, err = d[f"{row}tr_loss"], d[f"{row}te_err"]
    return float(loss.min()), float(loss.max()), float(err.min()), float(err.max())


def table(rows: list[tuple[str, tuple, tuple]]) -> str:
    head = ("| path | source: train loss min / max | this toolkit | source: test error (%) min / max | "
            "this toolkit |\n|---|---|---|---|---|")
    lines = [head]
    for what, want, got in rows:
        mine = ("not yet run", "not yet run") if got is None else (f"{got[0]:.2f} / {got[1]:.2f}",
                                                                    f"{got[2]:.2f} / {got[3]:.2f}")
        ref = (f"{want[0]:.2f} / {want[1]:.2f}", f"{want[2]:.2f} / {want[3]:.2f}") if want else ("–", "–")
        lines.append(f"| {what} | {ref[0]} | {mine[0]} | {ref[1]} | {mine[1]} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from landscape.compute.curve import compute_curve
    from landscape.engine.inputs import load_checkpoints, load_context
    from landscape.engine.settings import Settings
    from landscape.geometry.grid import Axis
    from landscape.report import build_report
    from landscape.study.run import _reuse_or_redo
    from swa.curves import CurveConfig
    from swa.data import DataSpec
    from swa.models import ModelSpec
    from swa.study import train_or_reuse

    p = parser(__doc__, "runs/mode-connectivity")
    p.add_argument("--data", choices=("cifar10", "cifar100", "both"), default="both")
    args = p.parse_args(argv)
    timer, out = Timer(), Path(args.out).expanduser()
    say = (lambda _: None) if args.quiet else print
    recipes = SMOKE if args.smoke else RECIPES
    device = "cpu" if args.smoke else args.device
    sets = ["cifar10"] if args.smoke else (["cifar10", "cifar100"] if args.data == "both" else [args.data])
    ts = Axis(0.0, 1.0, 3 if args.smoke else 61)
    settings = Settings(device=device, seed=0, progress=not args.quiet)
    rows, report_inputs = [], []
    for name in sets:
        root = smoke_root(out, name, n_train=32, n_test=16) if args.smoke else str(Path(args.data_root).expanduser())
        data = DataSpec(name, root=root, download=args.download and not args.smoke, augment=True)
        for model, recipe in recipes.items():
            network = ModelSpec(*SMOKE_NETWORK[model]) if args.smoke else ModelSpec(model)
            folder = out / name / model
            ends = [train_or_reuse(c, log=say) for c in endpoint_configs(model, recipe, data, folder, device,
                                                                           network)]
            ctx = load_context(str(ends[0]), None, None)
            a, b = load_checkpoints([str(e / "final.pt") for e in ends], ["SGD, seed 0", "SGD, seed 1"], ctx.model)
            label = f"{network.name}{' (smoke)' if args.smoke else ''}, {name}"
            for kind in KINDS:
                training = CurveConfig(kind=kind, bends=3, epochs=recipe.curve_epochs, lr=recipe.curve_lr,
                                       weight_decay=recipe.weight_decay, batch_size=recipe.batch_size, seed=0,
                                       device=device)
                res = _reuse_or_redo(lambda overwrite, k=kind, tr=training: compute_curve(
                    ctx, a, b, folder / f"curve-{k}", replace(settings, overwrite=overwrite),
                    tr, t=ts, log=say))
                say(res.summary_line())
                report_inputs.append(folder / f"curve-{kind}")
                if kind == "bezier":  # the endpoints' own numbers: the two ends of any of the paths
                    d = np.load(res.store.npz)
                    ends_loss = d["tr_loss"][[0, -1]]
                    ends_err = d["te_err"][[0, -1]]
                    rows.append((f"{label}: endpoints", EXPECTED[name][model]["endpoints"],
                                 (float(ends_loss.min()), float(ends_loss.max()), float(ends_err.min()),
                                  float(ends_err.max()))))
                    rows.append((f"{label}: straight line", None, path_numbers(res.store.npz, "line_")))
                rows.append((f"{label}: {KINDS[kind]}", EXPECTED[name][model][kind], path_numbers(res.store.npz, "")))
    recipe_text = "\n".join(f"- {m}: endpoints {r.epochs} epochs, lr {r.lr:g}, wd {r.weight_decay:g}; curves "
                            f"{r.curve_epochs} epochs, lr {r.curve_lr:g}; batch {r.batch_size}"
                            for m, r in recipes.items())
    files = build_report(report_inputs, out / "report", title="Mode connectivity (Garipov et al. 2018)" +
                         (" (smoke)" if args.smoke else ""), progress=lambda k: None, dpi=report_dpi(args.smoke),
                         overwrite=True)
    path = write_reproduction(out, "Mode connectivity (Garipov et al. 2018), CIFAR", recipe_text, table(rows),
                              args.smoke, timer.seconds,
                              notes="The reference's VGG16 has no BatchNorm; this run's is `vgg16_bn`. Train loss "
                                    "includes the ½·wd·‖w‖² term, as the reference's `tr_loss`.")
    print(f"mode-connectivity: {len(sets)} data set(s) x {len(recipes)} models in {timer.seconds:.0f}s -> {path}, "
          f"{files.html}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, "repro_mode_connectivity"))
