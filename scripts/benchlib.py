"""What the benchmark scripts share: running the CLI and training the digits SWA run they measure."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> float:
    """Run ``swa-landscape ARGS`` as a whole process (as a user would); return its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "landscape", *args], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def digits_swa_run(out: Path, device: str) -> Path:
    """Train ``train --method swa`` on digits with the defaults into ``out``."""
    cli("train", "--method", "swa", "--out", str(out), "--quiet", "--device", device)
    return out
