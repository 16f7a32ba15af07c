"""The full-scale reproduction scripts' --smoke modes (scripts/repro_*.py), run in-process.

Each smoke run trains every run of its recipe on tiny random data in the real on-disk format,
computes its landscape and report and writes reproduction.md. The checks are properties that the
pipeline must keep whatever the data: the recipe's schedule and averaging (against the reference
formula and a plain mean of the trajectory), the study table against the runs' own evaluations,
the report's sections, and reuse on a second call.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts import repro_cifar_reimpl, repro_mnist_finetune, repro_mode_connectivity, repro_swa_paper  # noqa: E402
from scripts.reprolib import run_main  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def swa_paper(tmp_path_factory):
    out = tmp_path_factory.mktemp("swa-paper")
    assert repro_swa_paper.main(["--smoke", "--quiet", "--out", str(out)]) == 0
    return out


def _reference_lr(epoch: int, lr_init: float, swa_lr: float, horizon: int) -> float:
    t = epoch / horizon  # timgaripov/swa train.py, written out again
    ratio = swa_lr / lr_init
    factor = 1.0 if t <= 0.5 else (1.0 - (1.0 - ratio) * (t - 0.5) / 0.4 if t <= 0.9 else ratio)
    return lr_init * factor


def test_swa_paper_smoke_runs_the_recipe(swa_paper):
    from swa.checkpoint import load_state_dict

    for model, recipe in repro_swa_paper.SMOKE.items():
        seed0 = swa_paper / model / "seed-0"
        assert sorted(p.name for p in seed0.iterdir()) == sorted(
            ["sgd", "swa-1", "swa-1.25", "swa-1.5"] + (["plane-const", "plane-cyclic"] if model == "preresnet164"
                                                       else []))
        for budget in repro_swa_paper.BUDGETS:
            run = seed0 / f"swa-{budget:g}"
            config = json.loads((run / "manifest.json").read_text())["config"]
            assert config["epochs"] == round(budget * recipe.budget) and config["swa_start"] == recipe.swa_start
            metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            for m in metrics:  # the reference schedule with horizon swa_start, per epoch
                assert m["lr"] == pytest.approx(_reference_lr(m["epoch"] - 1, recipe.lr, recipe.swa_lr,
                                                              recipe.swa_start), rel=1e-9)
        # the 1.5-budget average is the plain mean of its collected points (BN buffers recomputed apart)
        run = seed0 / "swa-1.5"
        manifest = json.loads((run / "manifest.json").read_text())
        points = [load_state_dict(run / p["path"]) for p in manifest["trajectory"]]
        assert [p["epoch"] for p in manifest["trajectory"]] == list(range(recipe.swa_start + 1,
                                                                            round(1.5 * recipe.budget) + 1))
        average = load_state_dict(run / manifest["swa"])
        for name, value in average.items():
            if value.is_floating_point() and "running" not in name:
                torch.testing.assert_close(value, torch.stack([p[name] for p in points]).mean(0), rtol=0,
                                           atol=1e-6)


def test_swa_paper_smoke_writes_study_landscape_report(swa_paper):
    from landscape.study.run import checkpoint_metrics

    for model in repro_swa_paper.SMOKE:
        study = json.loads((swa_paper / model / "study.json").read_text())
        assert list(study["methods"]) == ["sgd", "swa-1", "swa-1.25", "swa-1.5"] and study["seeds"] == [0]
        run = swa_paper / model / "seed-0" / "swa-1.25"
        again = checkpoint_metrics(run, run / "swa.pt")
        assert study["methods"]["swa-1.25"]["test_acc"]["mean"] == pytest.approx(again["test_acc"])
        assert study["methods"]["swa-1.25"]["test_loss"]["mean"] == pytest.approx(again["test_loss"])
        assert (swa_paper / model / "landscape" / "sgd-to-swa" / "interp.npz").exists()
    planes = swa_paper / "preresnet164" / "landscape"
    for name in ("plane-cyclic", "plane-const", "rays"):
        assert (planes / name).is_dir(), name
    import numpy as np

    grid = np.load(planes / "plane-const" / "plane.npz")
    assert grid["train_loss"].shape == (3, 3) and np.isfinite(grid["train_loss"]).all()
    text = (swa_paper / "reproduction.md").read_text()
    assert "**Smoke run**" in text and "80.35 ± 0.16" in text and "72.55 ± 0.10" in text
    assert "`preresnet164` (smoke: `preresnet20`)" in text
    html = (swa_paper / "report" / "report.html").read_text()
    for section in ('id="study"', 'id="planes"', 'id="lines"', 'id="rays"', 'id="curves"'):
        assert section in html, section
    for model in repro_swa_paper.SMOKE:  # each study's table is titled, in the page and in report.md
        title = f"{model}, CIFAR-100: SGD vs SWA at 1, 1.25 and 1.5 budgets"
        assert f"<caption>{title}</caption>" in html
        assert f"**{title}**" in (swa_paper / "report" / "report.md").read_text()


def test_swa_paper_second_call_reuses_everything(swa_paper, capsys):
    before = {p: p.stat().st_mtime_ns for p in swa_paper.rglob("*.pt")}
    assert repro_swa_paper.main(["--smoke", "--quiet", "--out", str(swa_paper)]) == 0
    assert {p: p.stat().st_mtime_ns for p in swa_paper.rglob("*.pt")} == before
    assert re.search(r"swa-paper: 1 model x 1 seed in \d+s", capsys.readouterr().out)


def test_mnist_finetune_smoke(tmp_path):
    assert repro_mnist_finetune.main(["--smoke", "--quiet", "--out", str(tmp_path)]) == 0
    study = json.loads((tmp_path / "study.json").read_text())
    assert list(study["methods"]) == ["sgd", "sgd-step", "swa-cyclic", "swa-const", "pswa"]
    assert study["tuned_rate"] == repro_mnist_finetune.RATE and study["tuning"] == {}
    pre = json.loads((tmp_path / "pretrain" / "manifest.json").read_text())["config"]
    assert pre["train_only"] == ["classifier."] and pre["optimizer"] == "adam"
    swa = json.loads((tmp_path / "seed-0" / "swa-cyclic" / "manifest.json").read_text())["config"]
    assert swa["lr"] == pytest.approx(2 * repro_mnist_finetune.RATE)
    assert swa["lr_min"] == pytest.approx(repro_mnist_finetune.RATE)  # the study's 0.01 -> 0.005
    step = json.loads((tmp_path / "seed-0" / "sgd-step" / "manifest.json").read_text())["config"]
    assert step["lr_milestones"] == [1, 2] and step["lr_gamma"] == 0.25
    text = (tmp_path / "reproduction.md").read_text()
    assert "| SWA (cyclical) | 93.04 |" in text and "| Adam only (pretrained) | 92.31 |" in text
    html = (tmp_path / "report" / "report.html").read_text()
    assert 'id="study"' in html and 'id="planes"' in html


def test_mnist_init_weights_loads_torchvision_files(tmp_path):
    import torchvision

    from swa.checkpoint import load_state_dict
    from swa.errors import UserError

    torch.manual_seed(1)
    ref = torchvision.models.resnet18(weights=None).state_dict()  # 1000-way head, as torchvision's file
    torch.save(ref, tmp_path / "resnet18.pth")
    path = repro_mnist_finetune.init_weights(str(tmp_path / "resnet18.pth"), "resnet18", tmp_path / "a")
    got = load_state_dict(path)
    assert got["fc.weight"].shape == (10, 512)
    for name, value in ref.items():
        if not name.startswith("fc."):
            assert torch.equal(got[name], value), name
    torch.save({"w": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="not torchvision's resnet18"):
        repro_mnist_finetune.init_weights(str(tmp_path / "other.pth"), "resnet18", tmp_path / "b")
    assert repro_mnist_finetune.init_weights("none", "resnet50", tmp_path / "c") is None


def test_a_missing_weights_file_is_one_line(tmp_path, capsys):
    code = run_main(lambda: repro_mnist_finetune.init_weights(str(tmp_path / "absent.pth"), "resnet50", tmp_path),
                    "repro_mnist_finetune")
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err and "Traceback" not in err


def test_cifar_reimpl_smoke(tmp_path):
    assert repro_cifar_reimpl.main(["--smoke", "--quiet", "--out", str(tmp_path)]) == 0
    mobile = json.loads((tmp_path / "mobilenet_v2" / "study.json").read_text())
    assert list(mobile["methods"]) == ["sgd", "swa-1.25"] and mobile["task"] == "classification"
    friedman = json.loads((tmp_path / "friedman1" / "study.json").read_text())
    assert friedman["task"] == "regression" and friedman["seeds"] == [0, 1]
    # the paired difference is the mean of the per-seed differences of the runs' own test losses
    diffs = [a["test_loss"] - b["test_loss"] for a, b in zip(friedman["methods"]["swa"]["per_seed"],
                                                            friedman["methods"]["sgd"]["per_seed"])]
    assert friedman["methods"]["swa"]["vs_baseline"]["mean"] == pytest.approx(sum(diffs) / len(diffs))
    import numpy as np

    plane = np.load(tmp_path / "mobilenet_v2" / "landscape" / "plane" / "plane.npz")
    assert plane["train_loss"].shape == (3, 3) and np.isfinite(plane["train_loss"]).all()
    sidecar = json.loads((tmp_path / "mobilenet_v2" / "landscape" / "plane" / "plane.json").read_text())
    assert "SGD" in json.dumps(sidecar)  # SGD's final model is marked on SWA's plane
    text = (tmp_path / "reproduction.md").read_text()
    assert "Friedman #1, test MSE" in text and not math.isnan(friedman["methods"]["swa"]["vs_baseline"]["mean"])


def test_mode_connectivity_smoke(tmp_path):
    """The curve recipe end to end on tiny data: endpoints, a Bezier curve and a chain per model, the table
    against the reference README's numbers, whose measured cells come from the runs' own curve.npz."""
    assert repro_mode_connectivity.main(["--smoke", "--quiet", "--out", str(tmp_path)]) == 0
    import numpy as np

    for model in repro_mode_connectivity.SMOKE:
        folder = tmp_path / "cifar10" / model
        ends = [json.loads((folder / f"sgd-seed-{s}" / "manifest.json").read_text()) for s in (0, 1)]
        assert [e["config"]["seed"] for e in ends] == [0, 1] and all(e["status"] == "complete" for e in ends)
        for kind in ("bezier", "polychain"):
            d = np.load(folder / f"curve-{kind}" / "curve.npz")
            assert d["ts"].tolist() == [0.0, 0.5, 1.0] and np.isfinite(d["tr_loss"]).all()
            side = json.loads((folder / f"curve-{kind}" / "curve.json").read_text())
            assert side["kind"] == kind and side["training"]["config"]["lr"] == \
                repro_mode_connectivity.RECIPES[model].curve_lr
    text = (tmp_path / "reproduction.md").read_text()
    bezier = np.load(tmp_path / "cifar10" / "preresnet164" / "curve-bezier" / "curve.npz")
    assert f"{bezier['tr_loss'].min():.2f} / {bezier['tr_loss'].max():.2f}" in text  # the measured cell
    assert "| 0.09 / 0.18 |" in text  # the reference's PreResNet164 Bezier row on CIFAR-10
    assert (tmp_path / "report" / "report.html").is_file()
