"""Run under ``torchrun`` by test_torchrun_directions.py: a Hessian plane and a Hessian line of a small MLP on
CPU (gloo); each rank writes what it computed and the digests of the directions it used to OUT/rank{R}.json."""

from __future__ import annotations

import hashlib
import json
import os
import sys

import torch
import torch.distributed as dist
import torch.nn as nn

import landscape
import landscape.compute.around_line as around_line
import landscape.compute.around_plane as around_plane
import landscape.curvature.objective as objective
from landscape.compute.around_line import evaluate_around_line
from landscape.engine.data import as_eval_data
from landscape.engine.distributed import process_group
from landscape.engine.forward import Forward
from landscape.engine.inputs import Checkpoint, state_digest
from landscape.engine.settings import Settings
from landscape.engine.task import Job
from swa.errors import UserError

built = []


class CountedObjective(objective.ModelObjective):
    def __init__(self, *args, **kwargs):
        built.append(str(kwargs.get("device")))
        super().__init__(*args, **kwargs)


def main(out: str) -> None:
    rank = int(os.environ["RANK"])
    # Joined once here, as a script making several calls should: each call then finds it joined and leaves it
    # (a group destroyed and joined again in one process can meet the old rendezvous keys).
    dist.init_process_group("gloo")
    objective.ModelObjective = CountedObjective
    around_plane.ModelObjective = around_line.ModelObjective = CountedObjective  # where they build it
    ends = []
    line_task = around_line.line_task
    around_line.line_task = lambda space, center, end, *a, **k: ends.append(end.digest) or line_task(
        space, center, end, *a, **k)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3))
    g = torch.Generator().manual_seed(1)
    data = {"train": (torch.randn(64, 5, generator=g), torch.randint(0, 3, (64,), generator=g))}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    quiet = lambda line: print(f"rank {rank}: {line}")  # noqa: E731
    plane = landscape.plane(model, data=data, center=state, directions="hessian", grid=3,
                            settings=landscape.Settings(device="cpu", progress=False, self_check=False, log=quiet))
    center = Checkpoint(None, "center", state, state_digest(state))
    job = Job(model, as_eval_data(data), Forward(task="classification"),
              Settings(device="cpu", progress=False, self_check=False), {}, log=quiet)
    evaluate_around_line(job, center, direction="hessian", t=None)
    d = plane.directions.directions
    record = {"objectives": built, "plane": hashlib.sha256(d.contiguous().numpy().tobytes()).hexdigest(),
              "eigenvalues": plane.directions.about["eigenvalues"], "line": ends}
    with process_group(torch.device("cpu")) as group:  # an error on rank 0 reaches every rank (none left waiting)
        def refuse():
            raise UserError(f"refused on rank {rank}")

        try:
            group.from_main(refuse)
        except UserError as exc:
            record["error"] = str(exc)
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(record, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
