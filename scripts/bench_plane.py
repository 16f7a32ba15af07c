"""Benchmark: the 21×21 plane on digits (issue 3's target) and the evaluator against a naive loop.

Run:  .venv/bin/python scripts/bench_plane.py [--device cpu|cuda]
Trains a small SWA run on digits if needed, times `swa-landscape plane --run` (21×21, --bn recompute,
full train and test sets), then times the same 20 plane points with the library's evaluator and with a
naive loop (deepcopy, load_state_dict, DataLoader, torch's update_bn) side by side, the naive loop at
the toolkit's fp32 arithmetic (TF32 off on CUDA) and both timed by a clock that waits for the GPU.
Prints Markdown.
"""

from __future__ import annotations

import argparse
import copy
import platform
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.benchlib import cli, clock, digits_swa_run, toolkit_arithmetic  # noqa: E402


def naive_point(template, state, data, device):
    from torch.optim.swa_utils import update_bn
    from torch.utils.data import DataLoader, TensorDataset

    model = copy.deepcopy(template).to(device)
    model.load_state_dict(state)
    loader = DataLoader(TensorDataset(data.x_train), batch_size=128)
    update_bn(((x.to(device),) for (x,) in loader), model)
    model.eval()
    out = []
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        loss, correct = 0.0, 0
        with torch.no_grad():
            for xb, yb in DataLoader(TensorDataset(x, y), batch_size=128):
                logits = model(xb.to(device))
                loss += torch.nn.functional.cross_entropy(logits, yb.to(device), reduction="sum").item()
                correct += (logits.argmax(1) == yb.to(device)).sum().item()
        out += [loss / len(x), correct / len(x)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from landscape.engine.data import as_eval_data
    from landscape.engine.evaluator import AffineFamily, Evaluator
    from landscape.engine.forward import Forward
    from landscape.geometry.grid import Plane
    from landscape.engine.weights import ParamSpace
    from swa.rundir import open_run

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = digits_swa_run(Path(tmp) / "swa", args.device)
        plane_seconds = cli("plane", "--run", str(run_dir), "--out", f"{tmp}/plane", "--quiet", "--device",
                            args.device, "--grid", "21")

        run = open_run(run_dir)
        data = run.load_data()
        traj = run.trajectory
        states = [torch.load(traj[i]["path"], map_location="cpu", weights_only=True)
                  for i in (0, len(traj) // 2, -1)]
        template = run.build_model()
        template.load_state_dict(states[0])
        space = ParamSpace.of(template)
        plane = Plane.through(*(space.params_of(s) for s in states))
        coords = torch.rand(20, 2, generator=torch.Generator().manual_seed(0)).numpy() * 2 - 0.5
        family = AffineFamily(plane.origin, plane.directions, coords, space.buffers_of(states[0]))
        evaluator = Evaluator(template, as_eval_data(data), Forward(task=data.task), space, device=args.device,
                              bn="recompute")
        fam = family.to(evaluator.device)
        evaluator.evaluate_rows(fam, [0, 1])  # warm-up
        started = clock(args.device)
        evaluator.evaluate_rows(fam, list(range(20)))
        ours = clock(args.device) - started
        with toolkit_arithmetic(args.device):  # the evaluator's fp32: TF32 off on CUDA for both
            started = clock(args.device)
            for c in coords:
                p = plane.point(float(c[0]), float(c[1]))
                state = dict(states[0])
                state.update(space.split(p, "params"))
                naive_point(template, state, data, args.device)
            naive = clock(args.device) - started
    print(f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"device {args.device}\n")
    print("| measurement | result |\n|---|---|")
    print(f"| `plane --run` 21×21, `--bn recompute`, full digits train+test, whole process | {plane_seconds:.1f} s |")
    print(f"| naive loop / evaluator, 20 plane points, BN recomputed (naive: torch `update_bn`) | "
          f"{naive / ours:.2f}× ({naive / 20 * 1000:.0f} vs {ours / 20 * 1000:.0f} ms per point) |")


if __name__ == "__main__":
    main()
