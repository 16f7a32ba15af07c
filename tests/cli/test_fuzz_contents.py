"""Wrong-typed and out-of-range *contents* of every file kind the toolkit reads (issue 19), in-process.

A file that parses but holds the wrong thing (``[1, 2]`` for a manifest, a string where a number belongs,
``10**400``, a 1 × 1 grid, a complex directions tensor) must be refused by its validating reader
(``swa.validate``, ``swa.rundir``, ``landscape.results.read``, ``landscape.compute.directions``): exit 2 with one
line on stderr naming the file, or, where the value only costs a label, success. Never a traceback, and a
refused command leaves the finished results in its ``--out`` as they were.

The concrete cases of the issue come first (each failed before the readers checked types); then
Hypothesis mutates each kind of file, one field or array at a time, with a fixed seed and a bounded number
of examples so that this file runs in well under a minute on two cores.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from support import cli

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

pytestmark = pytest.mark.slow  # ~200 malformed files through the CLI: `make test`, not `make test-fast`

FUZZ = settings(derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def fuzz(examples: int) -> settings:
    """The fixed-seed settings with ``examples`` examples."""
    return settings(FUZZ, max_examples=examples)

QUIET = ["--device", "cpu", "--quiet"]


# ---------------------------------------------------------------- the finished files every case starts from
@pytest.fixture(scope="module")
def good(tiny_run, tmp_path_factory):
    """Valid files of every kind (``src``), finished outputs (``outs``) and scratch copies to corrupt."""
    from landscape.cli import main
    from landscape.study.table import summarize_study

    d = tmp_path_factory.mktemp("contents")
    run = d / "run"
    shutil.copytree(tiny_run.out, run)
    src = {"run": run}
    for name, argv in (("plane", ["plane", "--grid", "2"]), ("interp", ["interp", "--t", "0:1:2"]),
                       ("rays", ["rays", "--directions", "2", "--steps", "2"]),
                       ("around", ["plane", "--around", "final", "--grid", "2"]),
                       ("sharpness", ["sharpness", "--metrics", "hessian_trace", "--trace-matvecs", "3",
                                      "--samples", "50"])):
        src[name] = d / name
        assert main([*argv, "--run", str(run), "--out", str(src[name]), "--no-plot", *QUIET]) == 0
    rows = {m: [{"test_acc": 0.9 + 0.01 * i + 0.001 * s, "test_loss": 0.3 - 0.01 * i, "train_loss": 0.1}
                for s in range(3)] for i, m in enumerate(("sgd", "swa"))}
    study = summarize_study(rows, labels={"sgd": "SGD", "swa": "SWA"}, seeds=[0, 1, 2], task="classification",
                            extra={"title": "a study", "epochs": 3})
    (d / "study").mkdir()
    (d / "study" / "study.json").write_text(json.dumps(study))
    src["study"] = d / "study"
    outs = {}
    for c in ("plot", "report", "export"):
        outs[c] = d / f"out_{c}"
    for c in ("plot", "report", "export"):  # a refused command must write nothing there
        outs[c].mkdir()
    for kind in ("plane", "around"):
        outs[kind] = d / f"out_{kind}"
        shutil.copytree(src[kind], outs[kind])
    return {"src": src, "outs": outs, "scratch": d / "scratch", "root": d}


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file() and not p.name.startswith(".swa-landscape")}


def _scratch(good, kind: str, name: str = "case") -> Path:
    """A fresh copy ``scratch/name`` of the valid files of ``kind``."""
    dst = good["scratch"] / name
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(good["src"][kind], dst)
    return dst


def _command(good, command: str, target: Path) -> tuple[list[str], Path]:
    """The argv of ``command`` on the corrupted ``target`` and the ``--out`` whose results must survive."""
    outs = good["outs"]
    if command == "plot":
        # --dpi 40: what is drawn is under test, not its resolution (a third of the pixels of the default)
        return ["plot", str(target), "--out", str(outs["plot"]), "--format", "png", "--dpi", "40"], outs["plot"]
    if command == "report":
        return ["report", str(target), "--out", str(outs["report"]), "--quiet", "--dpi", "40"], outs["report"]
    if command == "export":
        return ["export", str(target), "--format", "h5", "--out", str(outs["export"] / "plane.h5")], outs["export"]
    if command == "plane-run":
        return ["plane", "--run", str(target), "--grid", "2", "--out", str(outs["plane"]), "--no-plot",
                *QUIET], outs["plane"]
    if command == "resume":
        return ["train", "--resume", "--out", str(target), *QUIET], target
    if command == "load-directions":
        return ["plane", "--run", str(good["src"]["run"]), "--around", "final", "--grid", "2", "--load-directions",
                str(target), "--out", str(outs["around"]), "--no-plot", *QUIET], outs["around"]
    raise AssertionError(command)


def _check(capsys, good, command: str, target: Path) -> int:
    """Run ``command`` on ``target``: exit 0, or exit 2 with one line and ``--out`` untouched."""
    argv, out = _command(good, command, target)
    before = _digest(out)
    code, _, err = cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("swa-landscape: error:"), err
        assert _digest(out) == before, f"{argv} changed {out}"
    return code


# ---------------------------------------------------------------- mutations
def _get(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def _set(doc, path, value):
    """A copy of the JSON ``doc`` with the field at ``path`` set to ``value`` (``DELETE`` removes it)."""
    if not path:
        return value
    doc = json.loads(json.dumps(doc))
    parent = _get(doc, path[:-1])
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


DELETE = object()


def _paths(doc, prefix=(), depth=4):
    """Every field of ``doc`` down to ``depth`` (the first and last item of a list)."""
    out = [prefix]
    if depth and isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k), depth - 1)
    elif depth and isinstance(doc, list) and doc:
        for i in sorted({0, len(doc) - 1}):
            out += _paths(doc[i], (*prefix, i), depth - 1)
    return out


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.integers(-10 ** 9, 10 ** 9),
                    st.sampled_from([10 ** 400, -10 ** 400, 2 ** 64, -1, -1.5, 0]),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.text(max_size=3), SCALARS, max_size=2),
                   st.just(DELETE))


def _write_json(path: Path, doc) -> None:
    path.write_text(json.dumps(doc, allow_nan=True))


def _mutate_json(data, path: Path) -> None:
    doc = json.loads(path.read_text())
    where = data.draw(st.sampled_from(_paths(doc)), label="field")
    value = data.draw(VALUES, label="value")
    if value is DELETE and not where:
        value = None
    _write_json(path, _set(doc, where, value))


def _mutate_jsonl(data, path: Path) -> None:
    lines = path.read_text().splitlines()
    i = data.draw(st.integers(0, len(lines) - 1), label="line")
    record = json.loads(lines[i])
    where = data.draw(st.sampled_from(_paths(record)), label="field")
    value = data.draw(VALUES, label="value")
    lines[i] = json.dumps(_set(record, where, None if value is DELETE and not where else value))
    path.write_text("\n".join(lines) + "\n")


def _array_variants(arr: np.ndarray):
    """Wrong dtypes, shapes and values for one array."""
    flat = arr.reshape(-1)
    return st.sampled_from([
        arr.astype("U3"), arr.astype(np.complex64), arr.astype(np.int8), arr.astype(bool), np.zeros(0),
        flat, arr[..., None], flat[:1], np.full(arr.shape, np.nan), np.full(arr.shape, np.inf), arr[::-1],
        np.full(arr.shape, 1e308), -np.abs(arr.astype(float)), np.zeros(arr.shape), np.ones(5), np.array(3.0),
        np.concatenate([flat, flat]), None])


def _mutate_npz(data, path: Path) -> None:
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    key = data.draw(st.sampled_from(sorted(arrays)), label="array")
    new = data.draw(_array_variants(arrays[key]), label="variant")
    if new is None:
        del arrays[key]
    else:
        arrays[key] = new
    np.savez(path, **arrays)


# ---------------------------------------------------------------- the issue's cases, one by one
def _raw(text: bytes | str):
    return lambda p: p.write_bytes(text) if isinstance(text, bytes) else p.write_text(text)


def _edit(fn):
    """Apply ``fn`` to the parsed JSON file and write it back."""
    def run(p):
        _write_json(p, fn(json.loads(p.read_text())))
    return run


def _entry(doc):
    return next(iter(doc["results"].values()))


def _metric(doc):
    return next(iter(_entry(doc)["metrics"].values()))


def _npz(fn):
    def run(p):
        with np.load(p) as f:
            arrays = {k: f[k] for k in f.files}
        np.savez(p, **fn(arrays))
    return run


RANDOM = bytes(range(256)) * 3

MANIFEST = [
    ("random bytes", _raw(RANDOM)),
    ("a list", _raw("[1, 2]")),
    ("a string", _raw('"manifest"')),
    ("trajectory not a list", _edit(lambda m: {**m, "trajectory": "x"})),
    ("a point without path", _edit(lambda m: {**m, "trajectory": [{"epoch": 1}] * 3})),
    ("a point that is a number", _edit(lambda m: {**m, "trajectory": [1, 2, 3]})),
    ("a point path that is a number", _edit(lambda m: {**m, "trajectory": [{"path": 5, "epoch": 1}] * 3})),
    ("config not a dict", _edit(lambda m: {**m, "config": [1]})),
    ("config model not a dict", _edit(lambda m: {**m, "config": {**m["config"], "model": "cnn_small"}})),
    ("config lr a string", _edit(lambda m: {**m, "config": {**m["config"], "lr": "fast"}})),
    ("config epochs huge", _edit(lambda m: {**m, "config": {**m["config"], "epochs": 10 ** 400}})),
    ("input_shape a string", _edit(lambda m: {**m, "input_shape": "1x8x8"})),
    ("num_outputs negative", _edit(lambda m: {**m, "num_outputs": -3})),
    ("final a number", _edit(lambda m: {**m, "final": 7})),
    ("warnings a dict", _edit(lambda m: {**m, "warnings": {"a": 1}})),
    ("iters_per_epoch huge", _edit(lambda m: {**m, "iters_per_epoch": 10 ** 12})),
]
METRICS = [
    ("a line 42", _raw("42\n")),
    ("a record without epoch", _raw('{"train_loss": 1.0}\n')),
    ("random bytes", _raw(RANDOM)),
    ("epoch a string", _raw('{"epoch": "one", "train_loss": 1.0}\n')),
    ("a value a string", _raw('{"epoch": 1, "train_loss": "low"}\n')),
    ("a huge value", _raw('{"epoch": 1, "train_loss": 1' + "0" * 400 + "}\n")),
    ("an epoch past the end", _raw('{"epoch": 1000000000000, "train_loss": 1.0}\n')),
]
SHARPNESS = [
    ("results metrics a list", _edit(lambda d: (_entry(d).update(metrics=[1, 2]), d)[1])),
    ("top-level metrics numbers", _edit(lambda d: {**d, "metrics": [1, 2]})),
    ("results a list", _edit(lambda d: {**d, "results": [1, 2]})),
    ("an entry a number", _edit(lambda d: {**d, "results": {"SWA": 3}})),
    ("value a bool", _edit(lambda d: (_metric(d).update(value=True), d)[1])),
    ("value 10**400", _edit(lambda d: (_metric(d).update(value=10 ** 400), d)[1])),
    ("value a string", _edit(lambda d: (_metric(d).update(value="big"), d)[1])),
    ("negative uncertainty", _edit(lambda d: (_metric(d).update(uncertainty=-1.0), d)[1])),
    ("uncertainty 10**400", _edit(lambda d: (_metric(d).update(uncertainty=10 ** 400), d)[1])),
    ("a metric a list", _edit(lambda d: (_entry(d)["metrics"].update(hessian_trace=[1]), d)[1])),
    ("labels a string", _edit(lambda d: {**d, "labels": "SWA"})),
    ("random bytes", _raw(RANDOM)),
]
PLANE = [
    ("string values", _npz(lambda a: {**a, "train_loss": a["train_loss"].astype("U5")})),
    ("a 1 x 1 grid", _npz(lambda a: {**a, "alphas": a["alphas"][:1], "betas": a["betas"][:1],
                                     **{k: a[k][:1, :1] for k in ("train_loss", "train_acc", "test_loss",
                                                                  "test_acc", "done")}})),
    ("duplicate alphas", _npz(lambda a: {**a, "alphas": np.zeros_like(a["alphas"])})),
    ("decreasing betas", _npz(lambda a: {**a, "betas": a["betas"][::-1].copy()})),
    ("anchors of size 5", _npz(lambda a: {**a, "anchors": np.arange(5.0)})),
    ("anchors NaN", _npz(lambda a: {**a, "anchors": np.full_like(a["anchors"], np.nan)})),
    ("complex alphas", _npz(lambda a: {**a, "alphas": a["alphas"].astype(np.complex128)})),
    ("done of strings", _npz(lambda a: {**a, "done": a["done"].astype("U1")})),
    ("trajectory of size 3", _npz(lambda a: {**a, "trajectory": np.arange(3.0)})),
]
PLANE_SIDECAR = [
    ("anchors not a list of dicts", _edit(lambda s: {**s, "anchors": ["a", "b", "c"]})),
    ("anchors a dict", _edit(lambda s: {**s, "anchors": {"label": "x"}})),
    ("axes a list", _edit(lambda s: {**s, "axes": ["x", "y"]})),
    ("projections with non-dict entries", _edit(lambda s: {**s, "projections": [1] * len(s["projections"])})),
    ("inputs a string", _edit(lambda s: {**s, "inputs": "plane"})),
    ("model kwargs a list", _edit(lambda s: (s["inputs"]["model"].update(kwargs=[1]), s)[1])),
    ("an anchor sha256 a number", _edit(lambda s: {**s, "anchors": [{"sha256": 5}] * len(s["anchors"])})),
    ("compute seconds 10**400", _edit(lambda s: {**s, "timings": {"compute_seconds": 10 ** 400}})),
    ("a list", _raw("[1, 2]")),
    ("random bytes", _raw(RANDOM)),
]
INTERP_SIDECAR = [
    ("length a string", _edit(lambda s: {**s, "length": "long"})),
    ("length negative", _edit(lambda s: {**s, "length": -1.0})),
    ("length inf", _raw('{"length": Infinity}')),
    ("from a list", _edit(lambda s: {**s, "from": ["a"]})),
]
INTERP = [
    ("t of strings", _npz(lambda a: {**a, "t": a["t"].astype("U3")})),
    ("t 2-D", _npz(lambda a: {**a, "t": a["t"][None]})),
    ("distance of another shape", _npz(lambda a: {**a, "distance": np.zeros(7)})),
    ("values complex", _npz(lambda a: {**a, "test_loss": a["test_loss"].astype(np.complex64)})),
]
RAYS = [
    ("distances duplicated", _npz(lambda a: {**a, "distances": np.zeros_like(a["distances"])})),
    ("values 2-D", _npz(lambda a: {**a, "train_loss": a["train_loss"][0]})),
    ("width of strings", _npz(lambda a: {**a, "width": a["width"].astype("U3")})),
    ("width of another shape", _npz(lambda a: {**a, "width": np.zeros(3)})),
]
RAYS_SIDECAR = [
    ("points a dict", _edit(lambda s: {**s, "points": {"a": 1}})),
    ("delta a string", _edit(lambda s: {**s, "delta": "0.1"})),
    ("delta negative", _edit(lambda s: {**s, "delta": -0.1})),
]
STUDY = [
    ("methods entry a list", _edit(lambda d: {**d, "methods": {"sgd": [1]}})),
    ("seeds a string", _edit(lambda d: {**d, "seeds": "012"})),
    ("label a number", _edit(lambda d: (d["methods"]["swa"].update(label=3), d)[1])),
    ("vs_baseline mean a string", _edit(lambda d: (d["methods"]["swa"]["vs_baseline"].update(mean="x"), d)[1])),
    ("baseline missing", _edit(lambda d: {**d, "baseline": "adam"})),
    ("task a number", _edit(lambda d: {**d, "task": 1})),
]


def _directions(fn):
    def run(p):
        torch.save(fn(torch.load(p, weights_only=True)), p)
    return run


def _first(doc):
    return next(iter(doc["x"]))


DIRECTIONS = [
    ("a list", _directions(lambda d: [1, 2])),
    ("a tensor", _directions(lambda d: torch.zeros(3))),
    ("x a list", _directions(lambda d: {**d, "x": list(d["x"].values())})),
    ("an integer tensor", _directions(lambda d: {**d, "x": {**d["x"], _first(d): d["x"][_first(d)].long()}})),
    ("a complex tensor", _directions(lambda d: {**d, "x": {**d["x"], _first(d): d["x"][_first(d)].cfloat()}})),
    ("a bool tensor", _directions(lambda d: {**d, "x": {**d["x"], _first(d): d["x"][_first(d)] > 0}})),
    ("a shape mismatch", _directions(lambda d: {**d, "x": {**d["x"], _first(d): torch.zeros(2, 2)}})),
    ("a number for a tensor", _directions(lambda d: {**d, "y": {**d["y"], _first(d): 1.0}})),
    ("NaN", _directions(lambda d: {**d, "x": {**d["x"], _first(d): d["x"][_first(d)] * float("nan")}})),
]

# (source kind, file inside it, case table, commands)
TABLES = [
    ("run", "manifest.json", MANIFEST, ("plot", "report", "plane-run", "resume")),
    ("run", "metrics.jsonl", METRICS, ("plot", "report", "resume")),
    ("sharpness", "sharpness.json", SHARPNESS, ("plot", "report")),
    ("plane", "plane.npz", PLANE, ("plot", "export")),
    ("plane", "plane.json", PLANE_SIDECAR, ("plot", "report", "export")),
    ("interp", "interp.npz", INTERP, ("plot",)),
    ("interp", "interp.json", INTERP_SIDECAR, ("plot", "report")),
    ("rays", "rays.npz", RAYS, ("plot",)),
    ("rays", "rays.json", RAYS_SIDECAR, ("plot", "report")),
    ("study", "study.json", STUDY, ("report",)),
    ("around", "directions.pt", DIRECTIONS, ("load-directions",)),
]
CASES = [pytest.param(kind, name, edit, command, id=f"{name.split('.')[0]}-{what}-{command}")
         for kind, name, table, commands in TABLES for what, edit in table for command in commands]


def _target(kind: str, folder: Path, name: str, command: str) -> Path:
    if kind == "run":
        return folder
    if command in ("plot", "report", "export") and name.endswith(".json") and kind not in ("sharpness", "study"):
        return folder / name.replace(".json", ".npz")
    return folder / name


@pytest.mark.parametrize("kind,name,edit,command", CASES)
def test_issue_cases_are_one_line_errors(good, capsys, kind, name, edit, command):
    folder = _scratch(good, kind)
    edit(folder / name)
    code = _check(capsys, good, command, _target(kind, folder, name, command))
    assert code == 2, f"{name} ({command}) was accepted"


# ---------------------------------------------------------------- Hypothesis: one field or array at a time
FUZZED = [("run", "manifest.json", _mutate_json, "plot", 16), ("run", "manifest.json", _mutate_json, "plane-run", 8),
          ("run", "manifest.json", _mutate_json, "resume", 6), ("run", "metrics.jsonl", _mutate_jsonl, "plot", 12),
          ("sharpness", "sharpness.json", _mutate_json, "plot", 15),
          ("plane", "plane.npz", _mutate_npz, "plot", 12), ("plane", "plane.json", _mutate_json, "plot", 15),
          ("plane", "plane.json", _mutate_json, "report", 3), ("plane", "plane.npz", _mutate_npz, "export", 10),
          ("interp", "interp.npz", _mutate_npz, "plot", 10), ("interp", "interp.json", _mutate_json, "plot", 12),
          ("rays", "rays.npz", _mutate_npz, "plot", 10), ("rays", "rays.json", _mutate_json, "plot", 10),
          ("study", "study.json", _mutate_json, "report", 6)]


@pytest.mark.parametrize("kind,name,mutate,command,examples", [
    pytest.param(*f, id=f"{f[1]}-{f[3]}") for f in FUZZED])
def test_fuzzed_contents(good, capsys, kind, name, mutate, command, examples):
    src = good["src"][kind]

    @fuzz(examples)
    @given(data=st.data())
    def one(data):
        folder = good["scratch"] / f"{kind}-{command}"
        if command == "resume" or not folder.exists():  # a resume may finish the run: start afresh
            folder = _scratch(good, kind, f"{kind}-{command}")
        shutil.copyfile(src / name, folder / name)
        if name.endswith(".npz"):
            shutil.copyfile(src / name.replace(".npz", ".json"), folder / name.replace(".npz", ".json"))
        mutate(data, folder / name)
        _check(capsys, good, command, _target(kind, folder, name, command))

    one()


DTYPES = st.sampled_from([torch.float16, torch.float64, torch.int32, torch.bool, torch.complex64, torch.bfloat16])


@fuzz(8)
@given(data=st.data())
def test_fuzzed_directions(good, capsys, data):
    src = good["src"]["around"] / "directions.pt"
    doc = torch.load(src, weights_only=True)
    axis = data.draw(st.sampled_from(["x", "y"]), label="axis")
    name = data.draw(st.sampled_from(sorted(doc[axis])), label="tensor")
    t = doc[axis][name]
    new = data.draw(st.one_of(
        DTYPES.map(lambda dt: t.to(dt)), st.sampled_from([t.reshape(-1), t[None], t.new_zeros(0), t.new_zeros(7)]),
        st.sampled_from([None, 1.0, "x", [1.0], {"a": t}, t.numpy()])), label="replacement")
    doc[axis] = {**doc[axis], name: new}
    if new is None:
        del doc[axis][name]
    target = good["scratch"] / "directions" / "directions.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.save(doc, target)
    except Exception:  # noqa: BLE001 - a value torch cannot save is no file to read
        return
    _check(capsys, good, "load-directions", target)
