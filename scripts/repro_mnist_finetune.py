"""Reproduce the MNIST fine-tuning study: ResNet-50 fine-tuned with SGD, SWA and PSWA (Table 1, Fig. 1–3).

Elkoubi and Ein Dor, "Averaging Weights Leads to Wider Optima and Better Generalization" (a
reimplementation; ``../shared/seeds/001_3fedf5f20d3774df.txt``): an ImageNet ResNet-50 whose final
layer is first trained on MNIST with Adam, then fine-tuned from that same start by each method.

What the study gives, and what this script takes for what it does not give:

===================  ===========================================  ==================================
step                 the study                                    this script
===================  ===========================================  ==================================
network              ResNet-50                                    torchvision ResNet-50, ImageNet
                                                                  weights (IMAGENET1K_V1), 10-way fc,
                                                                  28×28 gray images repeated to RGB
pretraining          final layers, Adam                           ``fc`` only, Adam 1e-3, 5 epochs
SGD (constant)       0.005, momentum 0.9                          same
SGD (step)           0.01, ÷4 every 5 iterations                  0.01, ×0.25 after epochs 5 and 10
SWA (cyclical)       between 0.01 and 0.005                       0.01 → 0.005 in 1-epoch cycles
SWA (constant)       not given                                    0.01
PSWA                 p = 3                                        3 periods of 5 epochs at 0.01
fine-tuning epochs   not given                                    15 (3 × 5, for the step and PSWA)
batch, weight decay  not given                                    128, 5e-4
seeds                one run each                                 3
===================  ===========================================  ==================================

Expected: the study's Table 1, test accuracy (%), one run each: SGD (constant) 93.01, SGD (step)
93.0, SWA (cyclical) 93.04, SWA (constant) 92.90, Adam only 92.31; PSWA above SWA (its Fig. 3, no
number); Fig. 2: "two minima of the same width".

Measured by this toolkit: **not yet run** (no GPU run exists yet; ``OUT/reproduction.md`` of a run
fills the table).

The landscape of the first seed is the demo's (``landscape.study.run.study_landscape``): the lines
from the pretrained model through each fine-tuned one (Fig. 2), the planes through the cyclical
and constant SWA trajectories, SGD → SWA, rays, random planes around SGD and SWA on shared
directions, the PCA plane and the sharpness; all in ``OUT/report/report.html``.

Run (GPU; finished runs and results are reused, interrupted ones resumed)::

    python scripts/repro_mnist_finetune.py --data-root ~/data --download --weights download
    python scripts/repro_mnist_finetune.py --weights resnet50-0676ba61.pth    # torchvision's file, offline
    python scripts/repro_mnist_finetune.py --smoke --out /tmp/mnist-smoke     # CPU, the test

``--weights download`` fetches torchvision's ImageNet weights (its cache, ``~/.cache/torch``);
``--weights none`` starts from random weights. ``--smoke`` writes 64 + 32 random MNIST images in
the IDX format and runs the whole protocol for 3 epochs per method with 3×3 planes, with the small
CNN (its ``classifier`` trained alone in pretraining) in ResNet-50's place: a ResNet evaluates a
plane point in 0.5 s on a CPU, too slow for a test. The ResNet-50 itself, its ImageNet weights'
loading (:func:`init_weights`) and gray inputs are tested in ``tests/swa/test_models.py`` and
``tests/bench_repro/test_repro.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from landscape.plot._common import plural  # noqa: E402
from scripts.reprolib import Timer, comparison_markdown, measured_accuracy, parser, report_dpi, run_main, smoke_root, \
    write_reproduction  # noqa: E402

EXPECTED = {"pretrained": "92.31", "sgd": "93.01", "sgd-step": "93.0", "swa-cyclic": "93.04", "swa-const": "92.90",
            "pswa": "above SWA (Fig. 3)"}
RATE = 0.005  # η: SGD's constant rate; step decay from 2η, SWA's rates 2η (cyclical down to η)
FULL = dict(epochs=15, pretrain_epochs=5, batch_size=128)
SMOKE = dict(epochs=3, pretrain_epochs=1, batch_size=32)


def init_weights(source: str, arch: str, out: Path) -> str | None:
    """The pretraining's start: torchvision's ImageNet weights of ``arch`` (``download`` or a file)
    in this toolkit's model, ``fc`` left at its initialisation; written once to ``OUT/imagenet-init.pt``.
    """
    import torch

    from swa.checkpoint import load_state_dict
    from swa.errors import UserError
    from swa.io import save_torch
    from swa.models import ModelSpec, build_model

    if source == "none":
        return None
    path = out / "imagenet-init.pt"
    if path.exists():
        return str(path)
    if source == "download":
        import torchvision

        weights = getattr(torchvision.models, {"resnet50": "ResNet50_Weights", "resnet18": "ResNet18_Weights"}[arch])
        state = weights.IMAGENET1K_V1.get_state_dict(progress=True)
    else:
        state = load_state_dict(source)
    torch.manual_seed(0)
    model = build_model(ModelSpec(f"{arch}_imagenet"), num_outputs=10, input_shape=(1, 28, 28))
    body = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(body, strict=False)
    if unexpected or set(missing) != {"fc.weight", "fc.bias"}:
        raise UserError(f"--weights {source}: not torchvision's {arch} (missing {missing[:3]}, unexpected "
                        f"{unexpected[:3]})")
    save_torch(model.state_dict(), path)
    return str(path)


def main(argv=None) -> int:
    from landscape.report import build_report
    from landscape.engine.settings import Settings
    from landscape.study.run import run_study, study_landscape
    from landscape.study.table import study_markdown
    from swa.data import DataSpec
    from swa.models import ModelSpec
    from swa.study import StudySpec

    p = parser(__doc__, "runs/mnist-finetune")
    p.add_argument("--weights", default="download", metavar="download|none|FILE",
                   help="ImageNet weights to start from (default download: torchvision's IMAGENET1K_V1)")
    args = p.parse_args(argv)
    timer, out = Timer(), Path(args.out).expanduser()
    say = (lambda _: None) if args.quiet else print
    network, head = (ModelSpec("cnn_small"), "classifier.") if args.smoke else (ModelSpec("resnet50_imagenet"), "fc.")
    start = None if args.smoke else init_weights(args.weights, "resnet50", out)
    root = smoke_root(out, "mnist") if args.smoke else str(Path(args.data_root).expanduser())
    sizes = SMOKE if args.smoke else FULL
    seeds = list(range(1 if args.smoke else args.seeds))
    spec = StudySpec(out=out, data="mnist", device="cpu" if args.smoke else args.device, rates=(RATE,),
                     cyclic_low=1.0, model_spec=network,
                     data_spec=DataSpec("mnist", root=root, download=args.download and not args.smoke),
                     pretrain_init=start, pretrain_train_only=(head,), **sizes)
    title = "MNIST fine-tuning study: ResNet-50, SGD vs SWA vs PSWA" + (" (smoke)" if args.smoke else "")
    study = run_study(spec, seeds, title=title, say=say, extra={"weights": None if args.smoke else args.weights})
    say(study_markdown(study))
    landscape = study_landscape(spec, seeds[0], grid=args.grid or (3 if args.smoke else 21),
                                settings=Settings(device=spec.device, progress=not args.quiet),
                                line_points=5 if args.smoke else 41,
                                rays=(2, 3, 10.0) if args.smoke else (10, 21, 50.0), sharpness=not args.smoke)
    files = build_report([out / "study.json", out / f"seed-{seeds[0]}", landscape], out / "report", title=title,
                         progress=lambda k: None, dpi=report_dpi(args.smoke),
                         overwrite=True)  # rebuilt from OUT's results: ours to replace
    pre = study["pretrained"]
    rows = [("Adam only (pretrained)", EXPECTED["pretrained"], (100 * pre["test_acc"], 0.0, 1))]
    rows += [(study["methods"][m]["label"], EXPECTED[m], measured_accuracy(study, m)) for m in study["methods"]]
    recipe = ((f"- `cnn_small` in `resnet50_imagenet`'s place (smoke); MNIST from `{root}`\n" if args.smoke else
               f"- `resnet50_imagenet`, weights `{args.weights}`; MNIST from `{root}`\n")
              + f"- pretraining: `{head}` only, Adam 1e-3, {spec.pretrain_epochs} epochs\n"
              f"- fine-tuning: {spec.epochs} epochs, batch {spec.batch_size}, η = {RATE:g}, seeds {seeds}\n"
              "- methods: `swa/study.py` (SGD η; step from 2η ×0.25 at 1/3 and 2/3; SWA cyclical 2η → η; "
              "SWA constant 2η; PSWA 3 periods at 2η)")
    path = write_reproduction(out, "MNIST fine-tuning study, ResNet-50", recipe, comparison_markdown(rows),
                              args.smoke, timer.seconds,
                              notes="The study reports one run per method; its numbers have no spread.")
    print(f"mnist-finetune: {len(study['methods'])} methods x {plural(len(seeds), 'seed')} in {timer.seconds:.0f}s -> "
          f"{path}, {files.html}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, "repro_mnist_finetune"))
