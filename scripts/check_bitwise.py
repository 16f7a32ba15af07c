"""Before/after check of a refactor: the same commands on the same inputs must write the same numbers.

``python scripts/check_bitwise.py run OUT`` trains one tiny run with BatchNorm (digits, ``cnn_small``, SWA)
and computes, through the command line, on the CPU: the three-point plane, a plane around the SWA point along
random and Hessian directions, an interpolation, a Hessian line, rays and sharpness. ``python
scripts/check_bitwise.py compare OLD NEW`` then compares two such directories: every array of every ``.npz``
bitwise, every ``.json`` equal after dropping what legitimately changes between runs (times, dates, paths,
versions). Run it at the commit before a refactor and after, with the same interpreter::

    git stash; python scripts/check_bitwise.py run /tmp/before; git stash pop
    python scripts/check_bitwise.py run /tmp/after
    python scripts/check_bitwise.py compare /tmp/before /tmp/after
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

COMMON = ["--device", "cpu", "--quiet", "--no-self-check"]

# Keys whose values differ between two honest runs of the same command.
# Checkpoint hashes differ too (each training run writes its own file), paths carry the output directory.
VOLATILE = {"timings", "seconds", "compute_seconds", "elapsed", "created", "date", "versions", "host", "cwd",
            "argv"}
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def cli(*args):
    """One ``swa-landscape`` command in a fresh process; a failure stops the check."""
    cmd = [sys.executable, "-m", "landscape", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")


def run(out):
    out = Path(out)
    runs = out / "run"
    cli("train", "--out", runs, "--device", "cpu", "--model", "cnn_small", "--data", "digits", "--epochs", 6,
        "--method", "swa", "--swa-start", 2, "--lr", 0.05, "--batch-size", 64, "--quiet")
    data = ["--samples", 200, "--batch-size", 64, *COMMON]
    cli("plane", "--run", runs, "--out", out / "plane3", "--grid", 5, *data)
    cli("plane", "--run", runs, "--around", "swa", "--directions", "random", "--out", out / "plane_random",
        "--grid", 4, *data)
    cli("plane", "--run", runs, "--around", "swa", "--directions", "hessian", "--hessian-samples", 100,
        "--out", out / "plane_hessian", "--grid", 3, "--bn", "fixed", *data)
    cli("interp", "--run", runs, "--out", out / "interp", "--t", "-0.5:1.5:9", "--no-plot", *data)
    cli("interp", "--run", runs, "--around", "swa", "--direction", "hessian", "--out", out / "line_hessian",
        "--t", "-1:1:5", "--bn", "fixed", "--no-plot", *data)
    cli("rays", "--run", runs, "--out", out / "rays", "--directions", 3, "--steps", 6, "--max-distance", 20,
        "--no-plot", *data)
    cli("sharpness", "--run", runs, "--out", out / "sharpness", "--samples", 200, "--batch-size", 64,
        "--top-k", 2, "--trace-matvecs", 4, "--device", "cpu", "--quiet")


def scrub(value, root):
    """A sidecar without what legitimately differs between runs: times, checkpoint hashes, the output root."""
    if isinstance(value, dict):
        return {k: scrub(v, root) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [scrub(v, root) for v in value]
    if isinstance(value, str):
        return "<sha256>" if SHA256.match(value) else value.replace(str(root), "<root>")
    return value


def compare(old, new):
    old, new = Path(old), Path(new)
    problems, checked = [], 0
    files = sorted(p.relative_to(old) for p in old.rglob("*") if p.suffix in (".npz", ".json")
                   and "run" not in p.relative_to(old).parts[:1])
    for rel in files:
        a, b = old / rel, new / rel
        if not b.exists():
            problems.append(f"{rel}: missing after")
            continue
        checked += 1
        if rel.suffix == ".npz":
            x, y = np.load(a), np.load(b)
            if sorted(x.files) != sorted(y.files):
                problems.append(f"{rel}: arrays {sorted(x.files)} != {sorted(y.files)}")
                continue
            for key in x.files:
                if x[key].dtype != y[key].dtype or x[key].shape != y[key].shape or \
                        x[key].tobytes() != y[key].tobytes():
                    problems.append(f"{rel}:{key} differs")
        else:
            if scrub(json.loads(a.read_text()), old) != scrub(json.loads(b.read_text()), new):
                problems.append(f"{rel}: sidecar differs")
    extra = sorted(p.relative_to(new) for p in new.rglob("*") if p.suffix in (".npz", ".json")
                   and not (old / p.relative_to(new)).exists() and "run" not in p.relative_to(new).parts[:1])
    problems += [f"{rel}: new file" for rel in extra]
    for line in problems:
        print(line)
    print(f"{checked} files compared, {len(problems)} differences")
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("run").add_argument("out")
    both = sub.add_parser("compare")
    both.add_argument("old")
    both.add_argument("new")
    args = parser.parse_args()
    if args.verb == "run":
        run(args.out)
        return 0
    return compare(args.old, args.new)


if __name__ == "__main__":
    sys.exit(main())
