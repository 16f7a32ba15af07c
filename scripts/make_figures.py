"""Regenerate the README's gallery in ``figures/`` from the digits demo.

Runs ``swa-landscape demo`` (which reuses finished runs and results under
``--demo-dir``, relative to the repository like ``make demo``'s), then draws the plane, the line, the rays,
the sharpness comparison and the training curves as small PNGs (double-column width, 120 dpi); then
computes (or reuses) and draws two planes around the SWA run's average: along two random
filter-normalized directions (``plane --around swa``) and on the trajectory's top two principal
components (``plane --directions pca``)::

    python scripts/make_figures.py            # or: make figures
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

def main(argv=None) -> int:
    from landscape.cli import main as cli
    from landscape.plot.draw import PlotOptions, draw
    from landscape.plot.results import find_results, read_plane

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--demo-dir", default="runs/demo", help="where the demo's runs live (as make demo: runs/demo)")
    p.add_argument("--out", default="figures", help="where the gallery goes (figures)")
    p.add_argument("--dpi", type=int, default=120)
    args = p.parse_args(argv)
    os.chdir(ROOT)  # the same relative paths as `make demo`, so that its results are reused
    demo = Path(args.demo_dir)
    code = cli(["demo", "--out", str(demo), "--quiet", "--no-plot"])
    if code:
        return code
    results = find_results([demo / "landscape", demo / "sgd", demo / "swa", demo / "pswa"])
    for path in draw(results, args.out, PlotOptions(dpi=args.dpi)):
        print(f"wrote {path}")
    around = {"plane_random": ["--around", "swa"], "plane_pca": ["--directions", "pca"]}
    for stem, how in around.items():
        where = demo / "planes_around" / stem
        code = cli(["plane", "--run", str(demo / "swa"), *how, "--out", str(where), "--quiet", "--no-plot"])
        if code:
            return code
        with tempfile.TemporaryDirectory() as tmp:  # draw() names it plane.png: not over the gallery's own
            for path in draw({"plane": [read_plane(where / "plane.npz")]}, tmp, PlotOptions(dpi=args.dpi)):
                final = Path(args.out) / f"{stem}{path.suffix}"
                shutil.move(path, final)
                print(f"wrote {final}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
