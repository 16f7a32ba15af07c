"""Top Hessian eigenvalue: this toolkit against PyHessian, same model and data (issue 10, item 4).

Trains the digits SWA run (defaults), then, on its SWA average in eval mode with its own BatchNorm
buffers and all 1,347 training samples in one batch, computes the top eigenvalue of the training-loss
Hessian with
* PyHessian's power iteration (``hessian(...).eigenvalues(top_n=1)``) at its default tolerance 1e-3
  and at 1e-5 (up to 1,000 iterations), counting its Hessian-vector products;
* this toolkit's Lanczos (``top_eigenvalues_lanczos``, k = 1) at tol 1e-3 and 1e-4 (the ``sharpness``
  default), on the objective's Hessian-vector product (``landscape.curvature.objective``),
one after the other, each after one untimed warm-up call, set-up included, and compares every value
with the converged one (Lanczos at tol 1e-10). Prints Markdown for BENCHMARKS.md.

Re-run: ``.venv/bin/python scripts/bench_hessian.py``
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.benchlib import digits_swa_run  # noqa: E402


def main() -> None:
    import pyhessian

    ph = sys.modules["pyhessian.hessian"]  # the module (the package exports the class under the same name)

    from landscape.curvature.hessian import HessianOperator
    from landscape.curvature.objective import ModelObjective
    from landscape.curvature.spectrum import top_eigenvalues_lanczos
    from swa.rundir import open_run

    with tempfile.TemporaryDirectory() as tmp:
        run = open_run(digits_swa_run(Path(tmp) / "swa", "cpu"))
        state = torch.load(run.checkpoint("swa"), weights_only=True)
        data = run.load_data()
        model = run.build_model()

        def ours(tol):
            def fn():
                obj = ModelObjective(model, data, state, bn_recompute=False)
                value = top_eigenvalues_lanczos(HessianOperator(obj), k=1, tol=tol, seed=0).value[0]
                return value, obj.hvp_count
            return fn

        counted = {"n": 0}
        plain_hvp = ph.hessian_vector_product

        def counting(*args, **kwargs):
            counted["n"] += 1
            return plain_hvp(*args, **kwargs)

        ph.hessian_vector_product = counting

        def theirs(tol):
            def fn():
                net = run.build_model()
                net.load_state_dict(state)
                net.eval()
                torch.manual_seed(0)
                counted["n"] = 0
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    h = pyhessian.hessian(net, F.cross_entropy, data=(data.x_train, data.y_train), cuda=False)
                    value = h.eigenvalues(maxIter=1000, tol=tol, top_n=1)[0][0]
                return value, counted["n"]
            return fn

        exact = ours(1e-10)()[0]  # the converged value every row is compared with (untimed)
        results = {}
        for name, fn in (("PyHessian power iteration, tol 1e-3 (its default)", theirs(1e-3)),
                         ("PyHessian power iteration, tol 1e-5", theirs(1e-5)),
                         ("toolkit Lanczos, tol 1e-3", ours(1e-3)),
                         ("toolkit Lanczos, tol 1e-4 (`sharpness` default)", ours(1e-4))):
            fn()  # warm-up
            t0 = time.perf_counter()
            value, hvps = fn()
            results[name] = (time.perf_counter() - t0, value, hvps)
    times = [sec for sec, _, _ in results.values()]
    print(f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}\n")
    print(f"Converged top eigenvalue (Lanczos, tol 1e-10): {exact:.8g}\n")
    print("| implementation | top eigenvalue | error vs converged | Hessian-vector products | wall time |\n"
          "|---|---|---|---|---|")
    for name, (sec, value, hvps) in results.items():
        print(f"| {name} | {value:.7g} | {abs(value - exact) / abs(exact):.1e} | {hvps} | {sec:.2f} s |")
    print(f"\ntoolkit (tol 1e-4) / PyHessian (default) wall time: {times[3] / times[0]:.2f}; "
          f"toolkit (tol 1e-4) / PyHessian (tol 1e-5) wall time: {times[3] / times[1]:.2f}")


if __name__ == "__main__":
    main()
