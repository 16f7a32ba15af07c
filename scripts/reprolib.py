"""What the reproduction scripts (``scripts/repro_*.py``) share: flags, smoke data, the comparison table.

Every script runs a published experiment at full scale (GPU) with the recipe written at its top,
and with ``--smoke`` the same pipeline on tiny random data in the real on-disk format
(:mod:`swa.data.tiny_files`), few epochs and small grids, on CPU in seconds: a test, not a result.
Each writes ``OUT/reproduction.md``: the recipe, the numbers the source reports, what this run
measured (mean ± std over seeds) and the difference; and ``OUT/report/report.html``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

__all__ = ["run_main", "parser", "smoke_root", "comparison_markdown", "write_reproduction", "measured_accuracy", "Timer",
           "report_dpi"]


def parser(doc: str, out_default: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=out_default, help=f"output folder (default {out_default})")
    p.add_argument("--data-root", default="~/data", help="torchvision data folder (default ~/data)")
    p.add_argument("--download", action="store_true", help="let torchvision download missing data sets")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per method (default 3, as the sources)")
    p.add_argument("--grid", type=int, default=None, help="plane grid points per axis (default 31; smoke 3)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--smoke", action="store_true",
                   help="the whole pipeline on tiny random data of the right shape, on CPU, in seconds (a test)")
    return p


def report_dpi(smoke: bool) -> int:
    """The report's figure resolution: the report's default (110), or 50 for a smoke run (whose figures test the
    pipeline and are never looked at; a third of the pixels to draw)."""
    return 50 if smoke else 110


def smoke_root(out: Path, name: str, n_train: int = 64, n_test: int = 32) -> str:
    """Write a tiny ``name`` in its real on-disk format under ``OUT/smoke-data``; return that root."""
    from swa.data.tiny_files import write_set

    root = out / "smoke-data"
    if not root.exists():
        write_set(name, root, n_train=n_train, n_test=n_test)
    return str(root)


def measured_accuracy(study: Mapping[str, Any], method: str) -> Optional[tuple[float, float, int]]:
    """``(mean, std, n)`` test accuracy in % of ``method`` in a ``study.json`` document, or None."""
    entry = study["methods"].get(method, {}).get("test_acc")
    return None if entry is None else (100 * entry["mean"], 100 * entry["std"], entry["n"])


def comparison_markdown(rows: Sequence[tuple[str, str, Optional[tuple[float, float, int]]]],
                        metric: str = "test accuracy (%)") -> str:
    """A table of ``(what, expected as the source writes it, measured (mean, std, n) or None)``."""
    lines = [f"| run | source: {metric} | this toolkit: {metric} | difference |", "|---|---|---|---|"]
    for what, expected, got in rows:
        if got is None:
            lines.append(f"| {what} | {expected} | not yet run | – |")
            continue
        mean, std, n = got
        try:
            diff = f"{mean - float(expected.split('±')[0]):+.2f}"
        except ValueError:
            diff = "–"
        spread = f"{mean:.2f} ± {std:.2f} ({n} seeds)" if n > 1 else f"{mean:.2f} (1 seed)"
        lines.append(f"| {what} | {expected} | {spread} | {diff} |")
    return "\n".join(lines) + "\n"


def write_reproduction(out: Path, title: str, recipe: str, table: str, smoke: bool, seconds: float,
                       notes: str = "") -> Path:
    """``OUT/reproduction.md``: what was run, against what the source reports."""
    from swa.io import write_text

    head = (f"# {title}\n\n" + ("**Smoke run**: tiny random data, a few epochs. The numbers below test the "
                                "pipeline and mean nothing.\n\n" if smoke else "")
            + f"## Recipe\n\n{recipe.strip()}\n\n## Results\n\n{table}\n" + (f"\n{notes.strip()}\n" if notes else "")
            + f"\nWall time: {seconds:.0f} s.\n")
    path = out / "reproduction.md"
    write_text(head, path)
    return path


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


def run_main(main, name: str) -> int:
    """Run ``main()``: bad input is one line on stderr and exit 2, an interrupt exit 130 (work is kept)."""
    from swa.errors import UserError

    try:
        return int(main() or 0)
    except UserError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted; finished runs and results are kept: run the same command again",
              file=sys.stderr)
        return 130
