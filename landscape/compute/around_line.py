"""A line through one checkpoint along one direction (Li et al. 2018's 1D plots): w_c + t·d, with d a random
normalized direction (``landscape.geometry.directions``: ``filter`` by default; t in multiples of d, default
-1..1) or the top Hessian eigenvector at w_c (unit length, so t is a Euclidean distance; default
±√(2/λ₁), where the quadratic model rises by 1). The Hessian is that of the eval-mode loss with
the center's BatchNorm statistics, so unless ``--bn`` says otherwise a Hessian line keeps them
fixed (recomputing them at every point would draw another function, much flatter along d). On ReLU
networks the loss along d curves more than λ₁ says (the digits CNN: a second difference of about 90
against λ₁ = 69, at every step from 1e-2 to 3e-4): autograd's Hessian is that of each linear piece,
and the units that switch on or off across the data add curvature of their own.

It is the interpolation line from w_c to the point w_c + d, so it writes ``interp.npz`` and its sidecar
exactly as ``interp`` does, with ``direction`` (kind, seed or eigenvalue, norm) and the axis label added;
t = 1 is then not a checkpoint, and figures mark only the center.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from swa.devices import resolve_device
from swa.errors import UserError
from landscape.geometry.directions import random_directions, sign_fixed
from landscape.engine.distributed import in_process_group, setup
from landscape.engine.task import Job, budget_for, run_task, space_of
from landscape.geometry.grid import Axis
from landscape.engine.inputs import Checkpoint, state_digest
from landscape.compute.line import InterpResult, line_task
from landscape.compute.options import Directions
from landscape.curvature.hessian import HessianOperator
from landscape.curvature.objective import ModelObjective
from landscape.curvature.spectrum import top_eigenvalues_lanczos

__all__ = ["LINE_DIRECTIONS", "evaluate_around_line"]

LINE_DIRECTIONS = ("random", "hessian")


@in_process_group
def evaluate_around_line(job: Job, center: Checkpoint, *, direction: Directions | str = Directions(),
                         t: Optional[Axis] = None, out: Optional[str | Path] = None) -> InterpResult:
    """Loss and accuracy on w_c + t·d (see the module docstring).

    ``direction``: a :class:`~landscape.compute.options.Directions` of kind ``random`` (its ``normalization``,
    ``include_bn_and_bias``) or ``hessian`` (its ``hessian_samples``, ``hessian_tol``, ``hessian_batch_size``:
    training samples of the Hessian (all), Lanczos' tolerance, and the batch size of the Hessian's sums (halved
    on out-of-memory)); ``orthogonal`` and ``pca_center`` do not apply to a line. Under ``torchrun``
    the call is in one process group: the Hessian direction is computed on rank 0 and broadcast.

    Raises:
        UserError: an unknown direction, or ``bn='interpolate'`` (there is no second checkpoint).
    """
    model, data, forward, settings, log = job.model, job.data, job.forward, job.settings, job.log
    options = direction if isinstance(direction, Directions) else Directions(direction)
    direction = options.kind
    if direction not in LINE_DIRECTIONS:
        raise UserError(f"`direction` must be one of {', '.join(LINE_DIRECTIONS)}, got {direction!r}")
    normalization, include_bn_and_bias = options.normalization, options.include_bn_and_bias
    hessian_samples, hessian_tol = options.hessian_samples, options.hessian_tol
    space = space_of(model, job.params)
    if direction == "hessian" and settings.bn is None:  # the function whose curvature is measured (eval mode)
        settings = replace(settings, bn="fixed")
    bn = settings.resolved_bn(model)
    if bn == "interpolate":
        raise UserError("`bn='interpolate'` needs two checkpoints; a line through one takes `bn='recompute'` or "
                        "`bn='fixed'`")
    w_c = space.params_of(center.state)
    if direction == "random":
        d = random_directions(space, w_c, 1, normalization=normalization, seed=settings.seed,
                              include_bn_and_bias=include_bn_and_bias)[0]
        what = {"filter": "filter-normalized", "layer": "layer-normalized", "unit": "unit", "none": "raw"}[normalization]
        info = {"kind": "random", "seed": settings.seed, "normalization": normalization,
                "include_bn_and_bias": include_bn_and_bias}
        axis_label, half = f"t  (center + t·d, d {what} random)", 1.0
    else:
        group = setup(resolve_device(settings.device))  # the group the call joined: this rank and its device

        def compute() -> tuple[torch.Tensor, dict]:  # on rank 0 only, then broadcast
            log("direction: top Hessian eigenvector (Lanczos)")
            obj = ModelObjective(model, data, center.state, device=group.device,
                                 samples=hessian_samples, seed=settings.seed, bn_recompute=bn == "recompute",
                                 batch_size=options.hessian_batch_size, forward=forward,
                                 params=lambda name, _: name in set(space.param_names))
            eig = top_eigenvalues_lanczos(HessianOperator(obj), k=1, tol=hessian_tol, seed=settings.seed)
            d = torch.from_numpy(np.ascontiguousarray(eig.vectors[:, 0])).float()
            return sign_fixed(d), {
                "kind": "hessian", "eigenvalue": eig.value[0], "residual_norm": eig.uncertainty[0],
                "hessian_vector_products": eig.matvecs, "tol": hessian_tol, "seed": settings.seed}

        d, info = group.from_main(compute)
        lam = info["eigenvalue"]
        axis_label = f"distance along the top Hessian eigenvector (λ = {lam:.4g})"
        half = math.sqrt(2 / lam) if lam > 0 else 1.0
    info["norm"] = float(torch.linalg.vector_norm(d.double()))
    end_state = dict(center.state)
    end_state.update({k: v.to(center.state[k].dtype).clone() for k, v in space.split(w_c + d).items()})
    end = Checkpoint(None, f"center + d ({info['kind']})", end_state, state_digest(end_state))
    t = t if t is not None else Axis(-half, half, 41)
    key = {k: v for k, v in info.items() if k in ("kind", "seed", "normalization", "include_bn_and_bias", "tol")}
    task = line_task(space, center, end, bn, t, budget=budget_for(space, data, settings), end_is_checkpoint=False,
                     direction=key)
    task.sidecar.update(direction=info, axis=axis_label,
                        units="t: multiples of the direction d; distance: Euclidean, in parameter space")
    run = run_task(task, model, data, forward, space, settings, about=job.about, out=out, log=log)
    return InterpResult(store=run.store, is_main=run.is_main, t=task.extra["t"], length=task.sidecar["length"],
                        stats=run.stats)
