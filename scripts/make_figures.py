"""Regenerate the README's gallery in ``figures/`` from the digits demo.

Runs ``swa-landscape demo`` (which reuses finished runs and results under ``--demo-dir``, relative
to the repository like ``make demo``'s, and draws every figure into its report), then copies the
report's figures that the README shows into ``figures/`` under stable names::

    python scripts/make_figures.py            # or: make figures
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: gallery name → the report's figure (``landscape.report.sections`` names them after their result folders)
GALLERY = {
    "study_lines.png": "lines-from-finetune-pswa.png",
    "plane.png": "plane-plane-swa-cyclic.png",
    "plane_const.png": "plane-plane-swa-const.png",
    "interp.png": "line-sgd-to-swa.png",
    "rays.png": "rays-rays.png",
    "plane_random_sgd.png": "plane-random-sgd.png",
    "plane_random.png": "plane-random-swa.png",
    "plane_pca.png": "plane-pca.png",
    "sharpness.png": "sharpness.png",
    "curves.png": "curves.png",
    "curve_seeds.png": "curve-curve-sgd-seeds.png",
    "curve_swa.png": "curve-curve-sgd-swa.png",
}


def main(argv=None) -> int:
    from landscape.cli import main as cli

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--demo-dir", default="runs/demo", help="where the demo's runs live (as make demo: runs/demo)")
    p.add_argument("--out", default="figures", help="where the gallery goes (figures)")
    args = p.parse_args(argv)
    os.chdir(ROOT)  # the same relative paths as `make demo`, so that its results are reused
    demo = Path(args.demo_dir)
    code = cli(["demo", "--out", str(demo), "--quiet"])
    if code:
        return code
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for name, source in GALLERY.items():
        shutil.copyfile(demo / "report" / "figures" / source, Path(args.out) / name)
        print(f"wrote {Path(args.out) / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
