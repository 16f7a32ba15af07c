"""What the benchmark scripts share: running the CLI, training the digits SWA run they measure, a clock that
waits for the GPU, and the arithmetic the baselines share with the toolkit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> float:
    """Run ``swa-landscape ARGS`` as a whole process (as a user would); return its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "landscape", *args], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def clock(device: torch.device | str) -> float:
    """``time.perf_counter()`` once ``device``'s queued work is done (``torch.cuda.synchronize`` on CUDA): the
    difference of two readings times the work, not the launch of its kernels. Every timing of device work in
    the benchmarks reads this clock."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def toolkit_arithmetic(device: torch.device | str) -> AbstractContextManager:
    """The arithmetic of the toolkit's ``fp32`` (``landscape.engine.precision.precision_scope``: TF32 off for matmuls
    and cuDNN convolutions on CUDA), for the baselines it is compared with: the same numbers on both sides, so
    the speed-ups and ``max_rel_diff`` compare like with like."""
    from landscape.engine.precision import precision_scope

    return precision_scope(torch.device(device), "fp32")


def digits_swa_run(out: Path, device: str) -> Path:
    """Train ``train --method swa`` on digits with the defaults into ``out``."""
    cli("train", "--method", "swa", "--out", str(out), "--quiet", "--device", device)
    return out


def hardware() -> str:
    """The machine a benchmark ran on, detected (never assumed): CPU model, logical CPUs, GPU, versions, threads."""
    from landscape.engine.probe import device_name

    cpu = device_name(torch.device("cpu"))  # the model name in /proc/cpuinfo, else platform's
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} logical CPUs, {gpu}; torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, Python {platform.python_version()}")
