"""The report's sections, from what :func:`landscape.results.read.find_results` found.

A section appears only when its results exist: runs (settings), results (final metrics of each
run), training curves, planes, lines, rays, curves between solutions, sharpness, Hessian spectrum. Every plot is drawn by
the same function ``swa-landscape plot`` uses and saved under ``figures/``; every result carries
its provenance from its sidecar (inputs and checkpoint SHA-256s, BN mode, seeds, versions, time).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from landscape.results.metrics import METRICS
from landscape.report.blocks import Figure, Interactive, Provenance, Section, Table, Text, fmt, lit
from landscape.plot.style import save_figure, loss_name_of, title_of
from landscape.plot.connectivity import connectivity_figure
from landscape.plot.curves import curves_figure
from landscape.plot.plane import plane_figure
from landscape.plot.surface import plane_page
from landscape.plot.line import line_figure
from landscape.plot.rays import rays_figure
from landscape.plot.sharpness import SPECTRUM, merge_sharpness, sharpness_figure, sharpness_rows, spectrum_figure
from landscape.study.table import study_header, study_rows, study_sentences

__all__ = ["build_sections"]

RUN_SETTINGS = (("method", "method"), ("epochs", "epochs"), ("batch", "batch_size"), ("optimizer", "optimizer"),
                ("schedule", "lr_schedule"), ("lr", "lr"), ("lr min", "lr_min"), ("SWA start", "swa_start"),
                ("SWA lr", "swa_lr"), ("cycle", "cycle"), ("PSWA period", "pswa_period"),
                ("weight decay", "weight_decay"), ("seed", "seed"), ("init from", "init_from"))

#: settings that mean something only in some runs (``swa.config.TrainConfig``): shown as "–" elsewhere
_APPLIES = {
    "lr_min": lambda cfg: cfg.get("lr_schedule") in ("cyclic", "cosine"),  # their lowest rate
    "swa_lr": lambda cfg: cfg.get("lr_schedule") == "swa",  # the rate the swa schedule decays to
    "cycle": lambda cfg: cfg.get("lr_schedule") == "cyclic" or cfg.get("swa_start") is not None,
}


def _setting(cfg: dict[str, Any], key: str) -> str:
    """A run's setting as the Runs table shows it: "–" where the run does not use it."""
    applies = _APPLIES.get(key)
    return fmt(cfg.get(key)) if applies is None or applies(cfg) else "–"


class _Figures:
    """Saves figures as ``figures/<stem>.png`` with unique stems."""

    def __init__(self, folder: Path, dpi: int, math_labels: bool = False, overwrite: bool = False) -> None:
        self.folder, self.dpi, self.used, self.math, self.overwrite = folder, dpi, set(), math_labels, overwrite

    def save(self, fig, stem: str) -> Path:
        import matplotlib.pyplot as plt


        unique, k = stem, 2
        while unique in self.used:
            unique, k = f"{stem}-{k}", k + 1
        self.used.add(unique)
        try:
            return save_figure(fig, self.folder / unique, ("png",), dpi=self.dpi, overwrite=self.overwrite)[0]
        finally:
            plt.close(fig)


def _name(path: Path) -> str:
    """A result's name: its folder (the file name when that says more); a result inside another's folder (a
    curve's ``plane/``) is named after both (``curve-sgd-swa-plane``)."""
    folder = path.parent
    if folder.parent.name and (folder.parent / "curve.npz").is_file():
        return f"{folder.parent.name}-{folder.name}"
    return folder.name or path.name


def _checkpoints(side: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, "sha256 … path") of every checkpoint a sidecar names."""
    found = []
    for key in ("anchors", "points"):
        for c in side.get(key, []) or []:
            if isinstance(c, dict) and c.get("sha256"):
                found.append((str(c.get("label", key)), f"{c['sha256'][:16]}… {c.get('path') or '(in memory)'}"))
    for key in ("from", "to"):
        c = side.get(key)
        if isinstance(c, dict) and c.get("sha256"):
            found.append((f"{key}: {c.get('label', '')}", f"{c['sha256'][:16]}… {c.get('path') or '(in memory)'}"))
    return found


def _versions(side: dict[str, Any]) -> str:
    v = side.get("versions") or {}
    return ", ".join(f"{k} {v[k]}" for k in ("swa_landscape", "torch", "numpy", "python") if k in v)


def result_provenance(side: dict[str, Any], source: Path) -> Provenance:
    """How a landscape result was made, from its sidecar."""
    inputs = side.get("inputs") or {}
    settings = side.get("settings") or {}
    facts = [("file", str(source)), ("what", title_of(side) or "–"), ("command", str(inputs.get("command", "–")))]
    loss = loss_name_of(side)
    if loss:
        facts.append(("loss", loss))
    if side.get("extra_metrics"):
        facts.append(("extra metrics", ", ".join(f"{split}_{name}" for name in side["extra_metrics"]
                                                   for split in ("train", "test"))))
    if inputs.get("run"):
        facts.append(("run", str(inputs["run"])))
    facts.append(("BatchNorm", f"{side.get('bn_mode', '–')}" + (f", pass {settings.get('bn_pass')}"
                                                                 if side.get("bn_mode") == "recompute" else "")))
    facts.append(("seed", fmt(settings.get("seed", inputs.get("seed")))))
    facts.append(("precision", str(settings.get("precision", "fp32"))))
    evaluation = side.get("evaluation") or {}
    if evaluation.get("batch_size"):
        facts.append(("batch size", f"{evaluation['batch_size']} (BN statistics {evaluation.get('bn_batch_size')})"))
    directions = side.get("directions")
    if isinstance(directions, dict):
        facts.append(("directions", ", ".join(f"{k} {fmt(v)}" for k, v in directions.items()
                                              if k not in ("labels", "norms", "residual_norms"))))
    if "points_done" in side:
        facts.append(("points", f"{side['points_done']} of {side.get('points_total')} computed"))
    seconds = (side.get("timings") or {}).get("compute_seconds")
    if isinstance(seconds, (int, float)):
        facts.append(("compute time", f"{seconds:.1f} s"))
    facts += [(f"checkpoint {label}", text) for label, text in _checkpoints(side)]
    facts.append(("versions", _versions(side) or "–"))
    return Provenance(facts, inputs, source, about=_name(source))


def _extras_table(data: Any) -> Optional[Table]:
    """A ``forward_fn``'s own metrics of a result (``train_<name>``, ``test_<name>``): their range over the
    computed points, and how to draw them."""
    rows = []
    for key, values in data.values.items():
        if key in METRICS:
            continue
        finite = values[data.done & np.isfinite(values)]
        rows.append([key, fmt(float(finite.min())) if finite.size else "–",
                     fmt(float(finite.max())) if finite.size else "–"])
    if not rows:
        return None
    return Table(["extra metric", "lowest", "highest"], rows,
                 caption="Metrics of the forward_fn's own, recorded like the loss (per-sample means); "
                         f"swa-landscape plot --metric {lit(rows[0][0])} draws one.")


def _nonfinite_note(values: dict[str, np.ndarray], done: np.ndarray) -> Optional[Text]:
    bad = {k: int(np.sum(done & ~np.isfinite(v))) for k, v in values.items() if k.endswith("loss")}
    bad = {k: n for k, n in bad.items() if n}
    if not bad:
        return None
    return Text("Non-finite values (the loss overflowed, left blank in the figures): "
                + ", ".join(f"{n} in {lit(k.replace('_', ' '))}" for k, n in bad.items()) + ".")


# ---------------------------------------------------------------- sections
def _runs(runs) -> list[Section]:
    settings = Section("runs", "Runs", intro="What was trained: the settings of each run (manifest.json).")
    header = ["run", "model", "data"] + [name for name, _ in RUN_SETTINGS]
    rows = []
    for r in runs:
        cfg = r.config
        model = (r.manifest.get("model") or cfg.get("model") or {}).get("name", "–")
        data = (r.manifest.get("data") or cfg.get("data") or {}).get("name", "–")
        rows.append([r.label, str(model), str(Path(str(data)).name)] + [_setting(cfg, key) for _, key in RUN_SETTINGS])
    settings.blocks.append(Table(header, rows))
    for r in runs:
        prov = [("directory", str(r.path)), ("status", str(r.manifest.get("status", "–"))),
                ("epochs done", fmt(r.manifest.get("epochs_done"))), ("versions", _versions(r.manifest) or "–")]
        for w in r.manifest.get("warnings") or []:
            prov.append(("warning", str(w)))
        settings.blocks.append(Provenance(prov, r.config, r.path / "manifest.json", about=r.label))

    results = Section("results", "Results", intro="Last epoch of each run, evaluated in eval mode on the full "
                      "train and test sets: the SGD iterate and, for SWA/PSWA, the BN-updated average.")
    classification = any(rec.get("test_acc") is not None for r in runs for rec in r.records[-1:])
    header = ["run", "epochs", "test loss", "train loss"] + (["test acc (%)"] if classification else []) + \
        ["average: test loss", "average: train loss"] + (["average: test acc (%)"] if classification else [])
    rows = []
    for r in runs:
        last = r.records[-1]
        pct = lambda v: fmt(100 * v if isinstance(v, (int, float)) else v)  # noqa: E731
        row = [r.label, fmt(last.get("epoch")), fmt(last.get("test_loss")), fmt(last.get("train_loss"))]
        row += [pct(last.get("test_acc"))] if classification else []
        row += [fmt(last.get("avg_test_loss")), fmt(last.get("avg_train_loss"))]
        row += [pct(last.get("avg_test_acc"))] if classification else []
        rows.append(row)
    results.blocks.append(Table(header, rows))
    return [settings, results]


def _curves(runs, figs: _Figures) -> Section:
    s = Section("curves", "Training curves")
    s.blocks.append(Figure(figs.save(curves_figure(runs, math_labels=figs.math), "curves"),
                           "Test accuracy and loss of the SGD iterate and of the average, and the learning rate; "
                           "the averaging window shaded, PSWA period ends dotted."))
    return s


def _planes(planes, figs: _Figures) -> Section:
    s = Section("planes", "Planes", intro="Loss and test error on planes in weight space: through three checkpoints "
                "(the SWA paper's Fig. 1), or around one along random, PCA or Hessian directions (Li et al. 2018).")
    for data in planes:
        name = _name(data.path)
        kind = (data.sidecar.get("directions") or {}).get("kind")
        what = f"around {lit(data.anchor_labels[0])} along {lit(kind)} directions" if kind else \
            "through " + ", ".join(map(lit, data.anchor_labels))
        s.blocks.append(Text(f"**{lit(name)}**: the plane {what}; axes in {lit(data.units)}."))
        s.blocks.append(Figure(figs.save(plane_figure(data, math_labels=figs.math), f"plane-{name}"),
                               f"{lit(name)}: train loss and test error."))
        s.blocks.append(Interactive(plane_page(data), f"{lit(name)}: the surface, interactive (drag to turn; menu: "
                                                      "metric and scale)."))
        note = _nonfinite_note(data.values, data.done)
        if note:
            s.blocks.append(note)
        extras = _extras_table(data)
        if extras:
            s.blocks.append(extras)
        s.blocks.append(result_provenance(data.sidecar, data.path))
    return s


def _lines(lines, figs: _Figures) -> Section:
    s = Section("lines", "Lines", intro="Loss and error along lines: between two checkpoints and past both ends "
                "(the SWA paper's Fig. 5), or through one checkpoint along a direction. Lines that start at the "
                "same checkpoint are overlaid (e.g. from a pretrained model to each fine-tuned one).")
    groups: dict[str, list] = {}
    for data in lines:
        start = (data.sidecar.get("from") or {}).get("sha256") if not data.through_one else None
        groups.setdefault(start or str(data.path), []).append(data)
    for group in groups.values():
        names = ", ".join(_name(d.path) for d in group)
        if len(group) > 1:
            caption = (f"From {lit(group[0].start_label)} to each of: " + ", ".join(lit(d.end_label) for d in group)
                       + ".")
            stem = f"lines-from-{_name(group[0].path)}"
        else:
            d = group[0]
            caption = f"{lit(names)}: {lit(d.label)}, ‖b − a‖ = {fmt(d.length)}."
            stem = f"line-{names}"
        labels = [d.end_label for d in group] if len(group) > 1 else None  # the start is in the caption
        s.blocks.append(Figure(figs.save(line_figure(group, labels=labels, math_labels=figs.math), stem), caption))
        for d in group:
            note = _nonfinite_note(d.values, d.done)
            if note:
                s.blocks.append(note)
            extras = _extras_table(d)
            if extras:
                s.blocks.append(extras)
            s.blocks.append(result_provenance(d.sidecar, d.path))
    return s


def _rays(ray_sets, figs: _Figures) -> Section:
    s = Section("rays", "Rays", intro="Loss along random rays from each point (the SWA paper's Fig. 4) and the "
                "basin width: the distance where the train loss first rises by δ.")
    for data in ray_sets:
        name = _name(data.path)
        s.blocks.append(Figure(figs.save(rays_figure([data], math_labels=figs.math), f"rays-{name}"),
                               f"{lit(name)}: mean over rays and min–max band ({lit(data.normalization)} "
                               "directions)."))
        if data.width is not None:
            rows = []
            for label, w in zip(data.labels, data.width):
                finite = w[np.isfinite(w)]
                rows.append([label, fmt(float(finite.mean())) if len(finite) else "–",
                             fmt(float(finite.std(ddof=1))) if len(finite) > 1 else "–",
                             f"{int(np.sum(~np.isfinite(w)))} of {len(w)}"])
            s.blocks.append(Table(["point", f"width at δ = {fmt(data.delta)}: mean", "std", "censored rays"], rows))
        note = _nonfinite_note(data.values, data.done)
        if note:
            s.blocks.append(note)
        extras = _extras_table(data)
        if extras:
            s.blocks.append(extras)
        s.blocks.append(result_provenance(data.sidecar, data.path))
    return s


def _connectivity(curves, figs: _Figures) -> Section:
    s = Section("connectivity", "Curves between solutions", intro="Mode connectivity (Garipov et al. 2018): a "
                "curve trained between two checkpoints against the straight line between them. A barrier is the "
                "most a path rises above the straight interpolation of its ends' values.")
    for data in curves:
        name = _name(data.path)
        kind = {"bezier": "Bezier curve", "polychain": "polygonal chain"}.get(data.kind, data.kind)
        s.blocks.append(Figure(figs.save(connectivity_figure(data, math_labels=figs.math), f"curve-{name}"),
                               f"{lit(name)}: {lit(data.labels[0])} → {lit(data.labels[1])}, a {kind} and the "
                               "straight line."))
        rows = []
        for row, path in enumerate(("curve", "line")):
            b = data.barriers.get(path, {})
            done = data.done[row]
            loss = data.values["train_loss"][row][done]
            err = 100.0 - 100.0 * data.values["test_acc"][row][done]  # NaN without accuracy (regression)
            rows.append([kind if path == "curve" else "straight line", fmt(b.get("train_loss")),
                         fmt(b.get("test_err")), fmt(float(np.max(loss))) if loss.size else "–",
                         fmt(float(np.max(err))) if np.isfinite(err).any() else "–"])
        s.blocks.append(Table(["path", "barrier: train loss", "barrier: test error (points)", "max train loss",
                               "max test error (%)"], rows))
        note = _nonfinite_note(data.values, data.done)
        if note:
            s.blocks.append(note)
        s.blocks.append(result_provenance(data.sidecar, data.path))
    return s


def _metric_value(entry: Any) -> str:
    if not isinstance(entry, dict):
        return "–"
    value, unc = entry.get("value"), entry.get("uncertainty")
    if isinstance(value, list):
        value = value[0] if value else None
        unc = unc[0] if isinstance(unc, list) and unc else None
    text = fmt(value)
    if isinstance(unc, (int, float)) and math.isfinite(unc) and unc > 0:
        text += f" ± {fmt(unc, 2)}"
    return text


def _sharpness(docs, figs: _Figures) -> list[Section]:
    out = []
    entries = merge_sharpness(docs)
    rows_names = sharpness_rows(entries)
    if rows_names:
        s = Section("sharpness", "Sharpness", intro="Flatness in numbers at each checkpoint (± the estimator's "
                    "uncertainty). Raw Hessian quantities are not reparameterization-invariant: compare them only "
                    "within one architecture.")
        rows = [[name] + [_metric_value(e.metrics.get(name)) for e in entries] for name in rows_names]
        s.blocks.append(Table(["metric"] + [e.label for e in entries], rows))
        s.blocks.append(Figure(figs.save(sharpness_figure(docs, math_labels=figs.math), "sharpness"),
                               "The same numbers side by side."))
        for d in docs:
            s.blocks.append(_sharpness_provenance(d))
        out.append(s)
    if any(isinstance(e.metrics.get(SPECTRUM), dict) for e in entries):
        fig = spectrum_figure(docs, math_labels=figs.math)
        s = Section("spectrum", "Hessian spectrum", intro="Spectral density of the training-loss Hessian by "
                    "stochastic Lanczos quadrature.")
        s.blocks.append(Figure(figs.save(fig, "spectrum"), "Smoothed spectral density, one curve per checkpoint."))
        out.append(s)
    return out


def _sharpness_provenance(d) -> Provenance:
    inputs = d.doc.get("inputs") or {}
    facts = [("file", str(d.path)), ("run", str(inputs.get("run", "–"))), ("seed", fmt(d.doc.get("seed"))),
             ("settings", ", ".join(f"{k} {fmt(v)}" for k, v in (d.doc.get("settings") or {}).items()))]
    for label in d.labels:
        r = d.results.get(label) or {}
        facts.append((f"checkpoint {label}", f"{str(r.get('sha256', ''))[:16]}… {r.get('path') or '(in memory)'}; "
                                             f"{fmt(r.get('samples'))} samples, {fmt(r.get('hvps'))} Hessian-vector "
                                             "products"))
    facts.append(("versions", _versions(d.doc) or "–"))
    return Provenance(facts, inputs, d.path, about=_name(d.path))


def _study(studies) -> Section:
    s = Section("study", "Study over seeds", intro="Test metrics of each method's reported model (the final iterate "
                "for SGD, the BN-updated average for SWA/PSWA) as mean ± std over seeds, and the paired difference "
                "with the study's SGD baseline (in the fine-tuning study, SGD at its tuned constant rate), with a "
                "95 % t interval over seeds.")
    for d in studies:
        doc = d.doc
        s.blocks.append(Table(study_header(doc), study_rows(doc), caption=lit(doc.get("title") or _name(d.path))))
        for sentence in study_sentences(doc):
            s.blocks.append(Text(lit(sentence)))
        facts = [("file", str(d.path)), ("seeds", ", ".join(map(str, doc.get("seeds", [])))),
                 ("data", str(doc.get("data", "–"))), ("fine-tuning epochs", fmt(doc.get("epochs"))),
                 ("tuned SGD rate", fmt(doc.get("tuned_rate"))),
                 ("tuning (rate → final train loss)", ", ".join(f"{k} → {fmt(v)}"
                                                               for k, v in (doc.get("tuning") or {}).items())),
                 ("protocol", str(doc.get("protocol", "–")))]
        s.blocks.append(Provenance(facts, {}, d.path, about=_name(d.path)))
    return s


def build_sections(results: dict[str, list], figures: Path, dpi: int = 110,
                   progress: Callable[[str], None] = lambda _: None, math_labels: bool = False,
                   overwrite: bool = False) -> list[Section]:
    """Every section the results call for, in the report's order (``math_labels``: see
    :func:`landscape.plot._common.finish_labels`; ``overwrite``: figures may replace files the toolkit did
    not write)."""
    figs = _Figures(figures, dpi, math_labels, overwrite)
    sections: list[Section] = []
    steps: Sequence[tuple[str, Callable[[], Any]]] = [
        ("study", lambda: [_study(results["study"])]),
        ("run", lambda: _runs(results["run"]) + [_curves(results["run"], figs)]),
        ("plane", lambda: [_planes(results["plane"], figs)]),
        ("interp", lambda: [_lines(results["interp"], figs)]),
        ("rays", lambda: [_rays(results["rays"], figs)]),
        ("curve", lambda: [_connectivity(results["curve"], figs)]),
        ("sharpness", lambda: _sharpness(results["sharpness"], figs)),
    ]
    for kind, make in steps:
        if results.get(kind):
            progress(kind)
            sections += make()
    return sections
