#!/usr/bin/env bash
# The GPU check (issue 21): what only a CUDA GPU can show, in about five minutes.
#
#   bash scripts/gpu_check.sh            # from the repository root, on a machine with a CUDA GPU
#
# It installs nothing: the repository goes on PYTHONPATH and the machine's own torch is used (constraints.txt
# pins torch 2.14.1, which `make` would try to install; a GPU machine's torch is built for its driver). It
# writes under $OUT (default $TMPDIR/gpu_check, else /tmp/gpu_check):
#   env.txt         GPU, driver, torch and CUDA versions; which run-time packages are present
#   cuda_tests.txt  tests/test_cuda.py, the OOM and benchlib tests with CUDA present, and the tests marked cuda
#                   in test_cuda_state.py, test_precision.py and test_data_vision.py
#   timing.md       a 21×21 plane (cnn_small, digits, BN recomputed) and the top Hessian eigenvalue, CUDA vs
#                   the CPU: seconds and the largest relative difference
#   bench_plane.md  scripts/bench_plane.py --device cuda (trains a digits SWA run on the GPU first)
# Exit status: 0 if every step passed. The steps' time limits add up to 550 s, under the device tool's 600 s
# a call. PYTHON=... picks the interpreter (default python3).
set -u -o pipefail
OUT=${OUT:-${TMPDIR:-/tmp}/gpu_check}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
status=0
step() { echo "== $1: exit $2" | tee -a "$OUT/env.txt"; [ "$2" -eq 0 ] || status=1; }

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
  "$PY" - <<'EOF'
import importlib.util
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
      f"GPU {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")
for name in ("numpy", "scipy", "matplotlib", "sklearn", "tqdm", "torchvision", "plotly", "pytest", "xdist",
             "hypothesis", "h5py"):
    print(f"{name}: {'present' if importlib.util.find_spec(name) else 'MISSING'}")
EOF
} 2>&1 | tee "$OUT/env.txt"

timeout 180 "$PY" -m pytest -q -p no:cacheprovider -n 0 -rs tests/test_cuda.py tests/engine/test_oom.py tests/bench_repro/test_benchlib.py \
  2>&1 | tee "$OUT/cuda_tests.txt"
step "cuda tests" "${PIPESTATUS[0]}"

timeout 100 "$PY" -m pytest -q -p no:cacheprovider -n 0 -rs -m cuda tests/swa/test_cuda_state.py tests/engine/test_precision.py \
  tests/swa/test_data_vision.py 2>&1 | tee -a "$OUT/cuda_tests.txt"   # the tests marked cuda in other files
step "other cuda-marked tests" "${PIPESTATUS[0]}"

timeout 120 "$PY" - <<'EOF' 2>&1 | tee "$OUT/timing.md"
import time

import numpy as np
import torch

import landscape
from landscape.curvature.hessian import HessianOperator
from landscape.curvature.objective import ModelObjective
from landscape.curvature.spectrum import top_eigenvalues_lanczos
from swa.data import DataSpec, load_data
from swa.models import ModelSpec, build_model

data = load_data(DataSpec("digits"))
states = []
for seed in (0, 1, 2):
    torch.manual_seed(seed)
    model = build_model(ModelSpec("cnn_small", {"width": 16}), num_outputs=10, input_shape=(1, 8, 8))
    states.append({k: v.clone() for k, v in model.state_dict().items()})
quiet = dict(progress=False, self_check=False, bn="recompute")
landscape.plane(model, states, data, grid=2, settings=landscape.Settings(device="cuda", **quiet),
                log=lambda _: None)  # CUDA context, kernels
rows, planes = [], {}
for device in ("cuda", "cpu"):
    t0 = time.perf_counter()
    planes[device] = landscape.plane(model, states, data, grid=21, settings=landscape.Settings(device=device, **quiet),
                                     log=lambda _: None)
    rows.append((f"plane 21×21, cnn_small width 16, digits, BN recomputed, {device}", time.perf_counter() - t0))
diff = max(float(np.max(np.abs(planes["cuda"].store.values[m] - planes["cpu"].store.values[m])
                        / np.abs(planes["cpu"].store.values[m]))) for m in ("train_loss", "test_loss"))
eig = {}
for device in ("cuda", "cpu"):
    obj = ModelObjective(model, data, states[2], device=device, bn_recompute=False)
    t0 = time.perf_counter()
    eig[device] = top_eigenvalues_lanczos(HessianOperator(obj), k=1, tol=1e-4, seed=0).value[0]  # on the host
    rows.append((f"top Hessian eigenvalue (Lanczos), cnn_small width 16, 1,347 samples, {device}",
                 time.perf_counter() - t0))
print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}\n")
print("| measurement | seconds |\n|---|---|")
for name, sec in rows:
    print(f"| {name} | {sec:.2f} |")
print(f"\nplane: largest relative loss difference CUDA vs CPU {diff:.1e} (fp32, TF32 off)")
print(f"top eigenvalue: CUDA {eig['cuda']:.6g}, CPU {eig['cpu']:.6g}, relative difference "
      f"{abs(eig['cuda'] - eig['cpu']) / abs(eig['cpu']):.1e}")
EOF
step "timing" "${PIPESTATUS[0]}"

timeout 150 "$PY" scripts/bench_plane.py --device cuda 2>&1 | tee "$OUT/bench_plane.md"
step "bench_plane" "${PIPESTATUS[0]}"

echo "== gpu check: $([ $status -eq 0 ] && echo passed || echo FAILED)" | tee -a "$OUT/env.txt"
exit $status
