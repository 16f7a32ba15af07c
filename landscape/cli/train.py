"""``swa-landscape train``: train SGD, SWA or PSWA and write a run directory (see ``swa.rundir``)."""

from __future__ import annotations

import argparse
import sys

from landscape.cli.common import add_common, add_data_model_args, data_spec_from_args, model_spec_from_args

__all__ = ["add_parser", "run", "config_from_args"]

# Flags that --resume takes from the manifest instead (all but --out, --device, --resume).
_RUN_FLAGS = ("model", "model_kwargs", "data", "data_root", "download", "augment", "data_seed", "data_kwargs",
              "epochs", "batch_size", "optimizer", "lr", "lr_min", "lr_schedule", "lr_milestones", "lr_gamma",
              "momentum", "weight_decay", "method", "swa_start", "swa_lr", "cycle", "pswa_period", "init_from",
              "train_only", "seed", "precision", "channels_last", "deterministic", "bn_pass", "eval_batch_size",
              "eval_freq")


def _milestones(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated epochs like 50,75, got {text!r}") from None


def _prefixes(text: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated parameter-name prefixes like fc., got {text!r}")
    return names


def add_parser(sub) -> None:
    from swa.bn import BN_PASSES
    from swa.precision import PRECISIONS

    p = sub.add_parser("train", help="train SGD / SWA / PSWA and save the trajectory",
                       description=__doc__.split(":", 1)[1].strip())
    add_common(p)
    add_data_model_args(p)
    g = p.add_argument_group("optimization")
    g.add_argument("--epochs", type=int, default=None, help="number of epochs (default 20)")
    g.add_argument("--batch-size", type=int, default=None, help="batch size (default 128)")
    g.add_argument("--optimizer", choices=("sgd", "adam"), default=None, help="optimizer (default sgd)")
    g.add_argument("--lr", type=float, default=None, help="initial / maximal learning rate (default 0.1)")
    g.add_argument("--lr-min", type=float, default=None, help="lowest rate of cyclic and cosine (default 0.01*lr)")
    g.add_argument("--lr-schedule", choices=("constant", "cyclic", "swa", "step", "cosine"), default=None,
                   help="learning-rate schedule (default: swa for swa/pswa, cosine for sgd)")
    g.add_argument("--lr-milestones", type=_milestones, default=None, metavar="E1,E2",
                   help="epochs where the step schedule decays (default 50%%,75%% of epochs)")
    g.add_argument("--lr-gamma", type=float, default=None, help="decay factor of the step schedule (default 0.1)")
    g.add_argument("--momentum", type=float, default=None, help="SGD momentum (default 0.9)")
    g.add_argument("--weight-decay", type=float, default=None, help="L2 weight decay (default 5e-4)")
    g.add_argument("--init-from", default=None, metavar="CKPT", help="start from this checkpoint (fine-tuning)")
    g.add_argument("--train-only", type=_prefixes, default=None, metavar="P1,P2",
                   help="train only parameters whose names start with these prefixes (e.g. fc.); freeze the rest")
    a = p.add_argument_group("averaging")
    a.add_argument("--method", choices=("sgd", "swa", "pswa"), default=None, help="training method (default sgd)")
    a.add_argument("--swa-start", type=int, default=None,
                   help="averaging collects points after epochs swa-start + cycle, + 2 cycle, ... (default 75%%)")
    a.add_argument("--swa-lr", type=float, default=None, help="rate the swa schedule decays to (default 0.5*lr)")
    a.add_argument("--cycle", type=int, default=None, help="epochs between collected points / cycle length (1)")
    a.add_argument("--pswa-period", type=int, default=None, help="PSWA period in epochs (default 10)")
    a.add_argument("--bn-pass", "--bn-update", dest="bn_pass", choices=BN_PASSES, default=None,
                   help="how the average's BatchNorm statistics are recomputed (default exact; --bn-update is the "
                   "old name)")
    r = p.add_argument_group("run")
    r.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    r.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    r.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="fp32 (TF32 off, the default), tf32 (TF32 tensor cores on CUDA) or bf16 (autocast on CUDA)")
    r.add_argument("--channels-last", action="store_true", default=None, help="channels_last memory format on CUDA")
    r.add_argument("--deterministic", action="store_true", default=None,
                   help="deterministic algorithms (slower on CUDA), which a bitwise identical --resume on CUDA needs")
    r.add_argument("--eval-batch-size", type=int, default=None, help="evaluation batch size (default 1024)")
    r.add_argument("--eval-freq", type=int, default=None, help="evaluate the average every N epochs (default 1)")
    r.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    p.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace):
    """Turn parsed flags into a :class:`swa.config.TrainConfig` (defaults filled there)."""
    from swa.config import TrainConfig

    data = data_spec_from_args(args)
    model = model_spec_from_args(args, data)
    names = ("epochs", "batch_size", "optimizer", "lr", "lr_min", "lr_schedule", "lr_milestones", "lr_gamma",
             "momentum", "weight_decay", "method", "swa_start", "swa_lr", "cycle", "pswa_period", "init_from",
             "train_only", "seed", "device", "precision", "channels_last", "deterministic", "bn_pass",
             "eval_batch_size", "eval_freq")
    given = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    return TrainConfig(model=model, data=data, out=args.out, **given)


def run(args: argparse.Namespace) -> int:
    from swa.errors import ConfigError
    from swa.trainer import train

    if args.out is None:
        raise ConfigError("train needs --out DIR (the run directory)")
    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k in _RUN_FLAGS if getattr(args, k, None) not in (None, False)]
        if given:
            raise ConfigError(f"--resume takes every setting from {args.out}/manifest.json; drop {', '.join(given)}")
        if args.overwrite:
            raise ConfigError("--resume and --overwrite contradict each other; pick one")
        result = train(out=args.out, resume=True, device=args.device, progress=not args.quiet)
    else:
        result = train(config_from_args(args), overwrite=args.overwrite, progress=not args.quiet)
    print(result.summary_line())
    for warning in result.warnings:  # recorded in the manifest too
        print(f"swa-landscape: warning: {warning}", file=sys.stderr)
    return 0
