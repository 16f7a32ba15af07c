"""Pieces every subcommand shares: a parser whose errors are one line, and the common options."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, NoReturn

__all__ = ["OneLineParser", "path_arg", "add_common", "add_data_model_args", "data_spec_from_args", "model_spec_from_args",
           "add_landscape_args", "add_params_arg", "landscape_specs", "settings_from_args", "fail",
           "samples_help", "load_eval_context"]

PROG = "swa-landscape"


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``swa-landscape: error: message`` as one line on stderr and exit with ``code``."""
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    raise SystemExit(code)


def path_arg(text: str) -> str:
    """argparse ``type=`` of every path argument: an empty string is refused (it would mean the current
    directory, silently)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"an empty path ({text!r}) is not a file or directory; give a path")
    return text


def device_arg(text: str) -> str:
    """argparse ``type=`` of ``--device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (``swa.devices``); whether
    the machine has that GPU is checked when the device is resolved."""
    from swa.devices import check_device_name
    from swa.errors import ConfigError

    try:
        return check_device_name(text, flag=None)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# Arguments whose metavar names a path get ``type=path_arg`` when they were declared without a type.
_PATH_METAVAR = re.compile(r"DIR|FILE|CKPT|RESULT|^[ABC]$")


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (with a pointer to ``--help``):
    ``swa-landscape: error: plot: MESSAGE (see swa-landscape plot --help)``, the program named once.

    Every argument whose metavar names a path (``DIR``, ``FILE``, ``CKPT``, ``RUN_DIR``, ``A``, ...) and
    that has no ``type`` is given ``type=path_arg``, so that an empty path is refused by every subcommand.
    """

    def parse_known_args(self, args=None, namespace=None):
        for action in self._actions:
            metavars = action.metavar if isinstance(action.metavar, tuple) else (action.metavar or "",)
            if action.type is None and action.nargs != 0 and any(_PATH_METAVAR.search(m) for m in metavars):
                action.type = path_arg
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        command = self.prog[len(PROG):].strip() if self.prog.startswith(PROG) else self.prog
        fail(f"{command + ': ' if command else ''}{message} (see {self.prog} --help)")


def add_common(parser: argparse.ArgumentParser, *, out_default: str | None = None) -> None:
    """``--out``, ``--device`` and ``--seed``, which every subcommand has."""
    parser.add_argument("--out", type=path_arg, default=out_default, metavar="DIR",
                        help="output directory" + (f" (default: {out_default})" if out_default else ""))
    parser.add_argument("--device", type=device_arg, default=None, metavar="{auto,cpu,cuda,cuda:N}",
                        help="where to compute (default: auto = CUDA when available; cuda:N the N-th GPU)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")


def add_data_model_args(p: argparse.ArgumentParser) -> None:
    """``--model``/``--data`` and their options (shared with the landscape subcommands)."""
    p.add_argument("--model", default=None, help="registered model name, package.module:function or "
                   "file.py:function (default: cnn_small for images, mlp otherwise)")
    p.add_argument("--model-kwargs", default=None, metavar="JSON", help="keyword arguments of the model builder")
    p.add_argument("--data", default=None, help="data set name or a .pt/.npz file (default: digits)")
    p.add_argument("--data-root", type=path_arg, default=None, metavar="DIR", help="directory of on-disk data sets")
    p.add_argument("--download", action="store_true", default=None, help="download a missing torchvision data set")
    p.add_argument("--augment", action="store_true", default=None, help="standard training augmentation")
    p.add_argument("--data-seed", type=int, default=None, help="seed of the data split / synthetic data (default 0)")
    p.add_argument("--data-kwargs", default=None, metavar="JSON", help="data set options, e.g. '{\"noise\": 0.1}'")


def data_spec_from_args(args: argparse.Namespace):
    from swa.data import DataSpec, parse_data_kwargs

    return DataSpec(name=args.data or "digits", root=args.data_root, download=bool(args.download),
                    augment=bool(args.augment), seed=args.data_seed or 0, kwargs=parse_data_kwargs(args.data_kwargs))


def model_spec_from_args(args: argparse.Namespace, data_spec) -> Any:
    from swa.data import load_data
    from swa.models import ModelSpec, parse_model_kwargs

    name = args.model
    if name is None:
        data = load_data(data_spec)
        name = "cnn_small" if data.is_classification and len(data.input_shape) == 3 else "mlp"
    return ModelSpec(name=name, kwargs=parse_model_kwargs(args.model_kwargs))


def samples_help(test: bool) -> str:
    """``--samples``' help, the same words for every command that has it (``sharpness`` uses no test data)."""
    return ("evaluate on a fixed random subset of N training samples" + (" and min(N, test size) test samples"
            if test else "") + ", drawn from --seed and recorded in the sidecar (default: all)")


def add_landscape_args(p: argparse.ArgumentParser) -> None:
    """Where model and data come from, and how points are evaluated (plane, interp, rays)."""
    from landscape.engine.bn import BN_STRATEGIES
    from landscape.engine.budget import DEFAULT_MAX_POINTS
    from landscape.engine.precision import PRECISIONS
    from swa.bn import BN_PASSES

    p.add_argument("--run", type=path_arg, default=None, metavar="RUN_DIR",
                   help="training run: model, data (and points) from it")
    add_data_model_args(p)
    p.add_argument("--labels", nargs="+", default=None, help="labels of the checkpoints, in order")
    e = p.add_argument_group("evaluation")
    add_params_arg(e)
    e.add_argument("--samples", type=int, default=None, metavar="N", help=samples_help(test=True))
    e.add_argument("--bn", choices=tuple(BN_STRATEGIES), default=None,
                   help="BatchNorm statistics at each point (default: recompute for models with BatchNorm)")
    e.add_argument("--bn-samples", type=int, default=None, metavar="N",
                   help="training inputs used to recompute BatchNorm statistics (default: all)")
    e.add_argument("--bn-pass", choices=BN_PASSES, default="single-pass",
                   help="when the inputs exceed one batch: single-pass (default; one pass, each layer's "
                        "statistics pooled exactly over its batches) or exact (whole-set statistics, about "
                        "L/2 passes for L BatchNorm layers); the same when the inputs fit in one batch")
    e.add_argument("--batch-size", type=int, default=None, help="evaluation batch size (default: the fastest "
                   "of a short timed probe at the first point, recorded in the sidecar)")
    e.add_argument("--chunk", type=int, default=16, help="points per chunk between saves (default 16)")
    e.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="fp32 (TF32 off on CUDA), tf32 (CUDA tensor cores) or bf16 autocast (CUDA or CPU); "
                        "tf32/bf16 agree with fp32 to about 1e-2 relative")
    e.add_argument("--max-points", type=int, default=DEFAULT_MAX_POINTS, metavar="N",
                   help=f"refuse more points than this before any work (default {DEFAULT_MAX_POINTS:,})")
    e.add_argument("--overwrite", action="store_true", help="replace results of other inputs in --out")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.add_argument("--no-self-check", dest="self_check", action="store_false",
                   help="skip re-evaluating the result's anchors by a plain forward pass (to time the engine alone)")


def add_params_arg(group) -> None:
    group.add_argument("--params", default=None, metavar="REGEX",
                       help="only parameters whose name matches REGEX span the space (e.g. 'fc\\.'); the others "
                            "keep each checkpoint's values (default: all parameters)")


def landscape_specs(args: argparse.Namespace):
    """(ModelSpec or None, DataSpec or None) from explicit flags; ``None`` means: take the run's."""
    from dataclasses import replace

    from swa.models import ModelSpec, parse_model_kwargs

    model = None if args.model is None else ModelSpec(args.model, parse_model_kwargs(args.model_kwargs))
    # Evaluation never augments: the spec says so, so that --augment does not change the inputs' fingerprint.
    data = None if args.data is None else replace(data_spec_from_args(args), augment=False)
    return model, data


def load_eval_context(args: argparse.Namespace):
    """Model and data of a landscape command (``--run`` or ``--model``/``--data``), cut to ``--samples``
    (:meth:`landscape.engine.inputs.Context.use_samples`, one line says which subset)."""
    from landscape.engine.checks import check_int
    from landscape.engine.inputs import load_context

    if args.samples is not None:
        check_int(args.samples, "samples", 1)
    ctx = load_context(args.run, *landscape_specs(args))
    ctx.use_samples(args.samples, args.seed or 0)
    return ctx


def settings_from_args(args: argparse.Namespace):
    """The :class:`landscape.Settings` of the evaluation flags: what the Python API takes as ``settings=``.
    A command without a flag (``sharpness`` has no ``--chunk``) gets the setting's default."""
    from landscape.engine.settings import Settings

    given = {name: getattr(args, name) for name in ("bn", "bn_samples", "bn_pass", "batch_size", "chunk",
                                                    "precision", "max_points", "self_check", "samples", "overwrite")
             if getattr(args, name, None) is not None}
    return Settings(device=args.device or "auto", seed=args.seed or 0, progress=not args.quiet, **given)


def around_checkpoint(ctx, around: str, labels, flag: str = "--around"):
    """The checkpoint ``--around`` names: a file (``file.pt`` or ``file.pt#key``), or with ``--run`` its
    ``final`` or ``swa`` checkpoint; labelled by ``--labels`` or by its name.

    Raises:
        UserError: ``final``/``swa`` without a run that has it; a file that cannot be loaded.
    """
    from pathlib import Path

    from landscape.engine.inputs import load_checkpoints
    from swa.checkpoint import split_key
    from swa.errors import UserError

    path, label = around, Path(split_key(around)[0]).stem
    if around in ("final", "swa"):
        found = None if ctx.run is None else ctx.run.checkpoint(around)
        if found is None:
            raise UserError(f"{flag} {around} needs --run RUN_DIR of a run that has a '{around}' checkpoint")
        path, label = str(found), {"final": "SGD (final)", "swa": "SWA"}[around]
    return load_checkpoints([path], [labels[0]] if labels else [label], ctx.model)[0]
