"""The study's results table: each method's test metrics over seeds and its paired comparison with SGD.

``summarize_study`` turns per-seed metrics into the JSON the demo writes (``study.json``), and
``study_rows`` / ``study_sentences`` / ``study_markdown`` render it, like the MNIST fine-tuning
study's Table 1 but with mean ± std over seeds and, for every method, the paired difference with
plain SGD (constant rate): the mean, its 95 % t interval and in how many seeds it did better
(``landscape.study.stats``). For classification the comparison is on test accuracy in points; for
regression on test loss, where lower is better.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from landscape.plot._common import plural
from landscape.results.read import STUDY_FORMAT
from landscape.study.stats import paired_difference, summarize, verdict
from landscape.study.stats import Paired

__all__ = ["summarize_study", "study_rows", "study_header", "study_sentences", "study_markdown", "BASELINE"]

BASELINE = "sgd"
FORMAT = STUDY_FORMAT


def summarize_study(per_seed: Mapping[str, Sequence[Mapping[str, Any]]], *, labels: Mapping[str, str],
                    seeds: Sequence[int], task: str, pretrained: Optional[Mapping[str, Any]] = None,
                    extra: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """``per_seed[method][i]`` holds ``test_loss``, ``test_acc`` (None for regression), ``train_loss`` of seed i."""
    classification = task == "classification"
    key, higher = ("test_acc", True) if classification else ("test_loss", False)
    base = [m[key] for m in per_seed[BASELINE]]
    methods = {}
    for name, rows in per_seed.items():
        entry: dict[str, Any] = {"label": labels.get(name, name), "per_seed": [dict(r) for r in rows]}
        for metric in ("test_acc", "test_loss", "train_loss"):
            values = [r[metric] for r in rows if r.get(metric) is not None]
            if values:
                s = summarize(values)
                entry[metric] = {"mean": s.mean, "std": s.std, "n": s.n}
        if name != BASELINE:
            p = paired_difference([r[key] for r in rows], base, higher_is_better=higher)
            scale = 100.0 if classification else 1.0
            entry["vs_baseline"] = {"metric": key, "mean": p.mean * scale, "low": p.low * scale,
                                    "high": p.high * scale, "wins": p.wins, "ties": p.ties, "n": p.n,
                                    "level": p.level, "higher_is_better": higher,
                                    "unit": "points" if classification else ""}
        methods[name] = entry
    return {"format": FORMAT, "task": task, "seeds": list(seeds), "baseline": BASELINE, "methods": methods,
            "pretrained": dict(pretrained) if pretrained else None, **dict(extra or {})}


def _ms(entry: Optional[Mapping[str, Any]], scale: float = 1.0, digits: int = 2) -> str:
    if not entry:
        return "–"
    text = f"{entry['mean'] * scale:.{digits}f}"
    return text + (f" ± {entry['std'] * scale:.{digits}f}" if entry.get("n", 0) > 1 else "")


def study_header(study: Mapping[str, Any]) -> list[str]:
    cls = study["task"] == "classification"
    n = len(study["seeds"])
    over = plural(n, "seed")
    return (["method", f"test acc (%), {over}"] if cls else ["method"]) + \
        [f"test loss, {over}", "vs SGD: mean difference" + (" (points)" if cls else " (test loss)"),
         "95 % CI", "better than SGD"]


def study_rows(study: Mapping[str, Any]) -> list[list[str]]:
    cls = study["task"] == "classification"
    rows = []
    pre = study.get("pretrained")
    if pre:
        row = [pre.get("label", "pretrained")]
        row += [f"{100 * pre['test_acc']:.2f}"] if cls and pre.get("test_acc") is not None else ([] if not cls
                                                                                                 else ["–"])
        rows.append(row + [f"{pre['test_loss']:.4f}", "–", "–", "–"])
    for name, e in study["methods"].items():
        row = [e["label"]] + ([_ms(e.get("test_acc"), 100.0)] if cls else []) + [_ms(e.get("test_loss"), digits=4)]
        v = e.get("vs_baseline")
        if v is None:
            row += ["(baseline)", "–", "–"]
        else:
            d = 2 if cls else 4
            ci = f"[{v['low']:+.{d}f}, {v['high']:+.{d}f}]" if v["n"] > 1 else "–"
            row += [f"{v['mean']:+.{d}f}", ci, f"{v['wins']} of {v['n']}"]
        rows.append(row)
    return rows


def study_sentences(study: Mapping[str, Any]) -> list[str]:
    base = study["methods"][study["baseline"]]["label"]
    out = []
    for e in study["methods"].values():
        v = e.get("vs_baseline")
        if v is None:
            continue
        p = Paired(v["mean"], v["low"], v["high"], v["wins"], v["ties"], v["n"], v["level"])
        out.append(verdict(e["label"], base, p, unit=v["unit"] or "in test loss",
                           digits=2 if v["unit"] else 4, higher_is_better=v["higher_is_better"]) + ".")
    return out


def study_markdown(study: Mapping[str, Any]) -> str:
    header = study_header(study)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in study_rows(study)]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {s}" for s in study_sentences(study)) + "\n"
