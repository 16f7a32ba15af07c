"""Figures (landscape.plot): geometry of what is drawn checked against the data, on normal results and on
results with NaN/±inf regions, non-square negative-coordinate grids, partial grids, several results and
regression; every PNG a valid, non-blank image; no global matplotlib state changed."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest

from landscape.plot import draw as draw_mod
from landscape.plot.line import line_figure
from landscape.plot.plane import default_vmax, plane_figure, plane_levels
from landscape.plot.rays import ray_band, rays_figure
from landscape.results.read import find_results, read_line, read_plane, read_rays, read_run, read_sharpness
from landscape.plot.sharpness import pretty_row, sharpness_figure, spectrum_figure
from landscape.plot.curves import curves_figure, lr_curve
from landscape.plot.style import METHOD_COLORS, method_of, series_styles
from landscape.plot._common import clip_for_line
from swa.errors import UserError

from plot_cases import BOWL_MIN, write_line, write_plane, write_rays, write_run, write_sharpness
from support import assert_picture, png_pixels


def render(fig) -> np.ndarray:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return png_pixels(buf.getvalue())


def filled_contours(ax):
    from matplotlib.contour import ContourSet

    return [c for c in ax.collections if isinstance(c, ContourSet) and c.filled]


def legend_texts(fig) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def all_texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))


# ---------------------------------------------------------------- levels, clipping, bands
def test_log_levels_are_geometric_above_the_minimum():
    z = np.array([[0.5, 1.0], [3.0, 10.5]])
    levels = plane_levels(z, vmax=5.5, log=True, n=6, floor=1e-2)
    assert levels[0] == pytest.approx(0.5) and levels[-1] == pytest.approx(5.5)
    offsets = levels[1:] - 0.5
    ratios = offsets[1:] / offsets[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-12)
    assert offsets[0] == pytest.approx(5.0 * 1e-2)
    np.testing.assert_allclose(plane_levels(z, vmax=5.5, log=False, n=6), np.linspace(0.5, 5.5, 6))


def test_default_vmax_is_min_of_max_and_ten_medians():
    z = np.concatenate([np.full(50, 0.1), np.full(49, 0.2), [1e6, np.inf, np.nan]])
    assert default_vmax(z) == pytest.approx(10 * np.median(z[np.isfinite(z)]))
    flat = np.linspace(1.0, 2.0, 10)
    assert default_vmax(flat) == 2.0


def test_clip_for_line():
    c = clip_for_line(np.array([1.0, np.inf, np.nan, -np.inf, 50.0, 2.0]), np.array([1, 1, 1, 1, 1, 0], bool), 10.0)
    np.testing.assert_array_equal(c.over, [False, True, False, False, True, False])
    np.testing.assert_array_equal(c.missing, [False, False, True, True, False, True])
    np.testing.assert_array_equal(c.y[[0, 1, 4]], [1.0, 10.0, 10.0])
    assert np.isnan(c.y[[2, 3, 5]]).all()


@pytest.mark.parametrize("band", ["minmax", "std"])
def test_ray_band_matches_a_loop_over_steps(band):
    rng = np.random.default_rng(3)
    v = rng.uniform(0, 1, size=(6, 9))
    v[0, 7:] = np.inf
    v[2, 8] = np.nan
    v[:, 5] = np.nan  # a step with no finite value
    b = ray_band(v, band)
    for s in range(v.shape[1]):
        col = [x for x in v[:, s] if np.isfinite(x)]
        if not col:
            assert np.isnan(b.mean[s]) and np.isnan(b.low[s])
            continue
        mean = sum(col) / len(col)
        assert b.mean[s] == pytest.approx(mean)
        if band == "minmax":
            assert (b.low[s], b.high[s]) == pytest.approx((min(col), max(col)))
        else:
            sd = (sum((x - mean) ** 2 for x in col) / (len(col) - 1)) ** 0.5 if len(col) > 1 else 0.0
            assert (b.low[s], b.high[s]) == pytest.approx((mean - sd, mean + sd))
    assert b.excluded == int((~np.isfinite(v)).sum())


@pytest.mark.parametrize("label,method", [
    ("SGD final", "SGD"), ("SWA", "SWA"), ("PSWA", "PSWA"), ("swa-cyclic", "SWA"), ("SGD final (SWA run)", "SGD"),
    ("SGD final (PSWA run)", "SGD"), ("pswa: PSWA", "PSWA"), ("pretrained", "pretrained"), ("pre", "pretrained"),
    ("epoch 12", None), ("preresnet20", None)])
def test_method_of(label, method):
    assert method_of(label) == method


def test_series_styles_keep_method_colours_and_vary_repeats():
    s = series_styles(["SGD final", "SWA cyclic", "SWA constant", "PSWA", "other", "another"])
    assert [x.color for x in s[:4]] == [METHOD_COLORS[m] for m in ("SGD", "SWA", "SWA", "PSWA")]
    assert s[1].linestyle != s[2].linestyle and s[1].hatch != s[2].hatch
    assert s[4].color != s[5].color and s[4].color not in METHOD_COLORS.values()


# ---------------------------------------------------------------- plane
@pytest.mark.slow  # over 1 s: not in make test-fast
def test_plane_contours_put_the_minimum_where_it_is(tmp_path):
    """Non-square grid with negative coordinates: the lowest filled band surrounds the bowl's minimum."""
    data = read_plane(write_plane(tmp_path))
    fig = plane_figure(data)
    ax = fig.axes[0]
    lowest = filled_contours(ax)[0].get_paths()[0]
    assert lowest.contains_point(BOWL_MIN)
    assert not lowest.contains_point((-0.8, 1.3))
    assert ax.get_xlim() == pytest.approx((-1.0, 2.0)) and ax.get_ylim() == pytest.approx((-2.0, 1.5))
    assert ax.get_aspect() == 1.0
    assert_rendered(fig)


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_a_thin_plane_is_stretched_and_says_so(tmp_path):
    """Nearly collinear anchors: a 3.0 × 0.06 plane fills a readable panel; the v̂ label gives the stretch."""
    data = read_plane(write_plane(tmp_path, betas=np.linspace(-0.03, 0.03, 5)))
    fig = plane_figure(data)
    ax = fig.axes[0]
    assert ax.get_ylim() == pytest.approx((-0.03, 0.03))
    assert ax.get_box_aspect() == pytest.approx(0.35)  # the clipped panel ratio, not 0.06 / 3
    assert ax.get_ylabel() == "distance along v̂ (×18)"  # 0.35 / (0.06 / 3)
    fig.canvas.draw()
    pos, (w, h) = ax.get_position(), fig.get_size_inches()
    assert (pos.height * h) / (pos.width * w) == pytest.approx(0.35, rel=0.02)  # drawn at that ratio
    assert_rendered(fig)


def test_plane_marks_anchors_trajectory_and_checkpoints(tmp_path):
    data = read_plane(write_plane(tmp_path))
    fig = plane_figure(data)
    ax = fig.axes[0]
    traj = [p for p in data.points if p.kind == "trajectory"]
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == len(traj)]
    assert lines, "no trajectory polyline"
    np.testing.assert_allclose(np.column_stack(lines[0].get_data()), [[p.x, p.y] for p in traj])
    offsets = np.concatenate([c.get_offsets() for c in ax.collections if hasattr(c, "get_offsets")
                              and c not in filled_contours(ax) and len(c.get_offsets())])
    for x, y in [*data.anchors, (1.1, 0.1), (0.65, -0.35)]:
        assert np.any(np.all(np.isclose(offsets, [x, y]), axis=1)), (x, y)
    texts = all_texts(fig)
    for label in ("epoch 10", "epoch 13", "epoch 12"):
        assert label in texts
    legend = legend_texts(fig)
    assert "SGD final" in legend and "trajectory" in legend and "anchors" in legend
    # SWA is 0.6 off the plane (far, relative to a 3.5-wide plot); SGD final lies in it.
    assert "SWA (0.6 off plane)" in legend


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_plane_clips_above_vmax_and_masks_nan(tmp_path):
    data = read_plane(write_plane(tmp_path, nonfinite=True))
    fig = plane_figure(data, vmax={"train_loss": 1.0})
    cbar_labels = [t.get_text() for t in fig.axes[-1].get_yticklabels()] + \
        [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    assert "> 1" in cbar_labels
    texts = all_texts(fig)
    train = data.values["train_loss"]
    assert f"{int(np.isnan(train).sum())} points non-finite (blank)" in texts
    n_over = int((train > 1.0).sum())
    assert f"{n_over} > 1 ({int(np.isposinf(train).sum())} inf)" in texts
    assert_rendered(fig)


def test_plane_without_values_above_vmax_has_no_overflow_band(tmp_path):
    data = read_plane(write_plane(tmp_path))
    fig = plane_figure(data, vmax={"train_loss": 1e6, "test_err": 1e6})
    labels = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    assert not any(lab.startswith(">") for lab in labels)


def test_plane_regression_has_no_error_panel(tmp_path):
    data = read_plane(write_plane(tmp_path, regression=True))
    fig = plane_figure(data)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["train loss", "test loss"]
    with pytest.raises(UserError, match="no test_err"):
        plane_figure(data, metrics=["test_err"])


def test_plane_with_no_finite_value_says_so(tmp_path):
    write_plane(tmp_path)
    with np.load(tmp_path / "plane.npz") as f:
        arrays = dict(f)
    arrays["train_loss"] = np.full_like(arrays["train_loss"], np.inf)
    np.savez(tmp_path / "plane.npz", **arrays)
    fig = plane_figure(read_plane(tmp_path / "plane.npz"))
    assert "no finite train loss on this plane" in all_texts(fig)
    assert_rendered(fig)


def test_plane_partial_grid_says_so(tmp_path):
    data = read_plane(write_plane(tmp_path, partial=True))
    assert f"{data.done.size - 20} of {data.done.size} points computed" in all_texts(plane_figure(data))


@pytest.mark.slow  # over 1 s: not in make test-fast
@pytest.mark.parametrize("width", ["single", "double"])
def test_plane_widths(tmp_path, width):
    fig = plane_figure(read_plane(write_plane(tmp_path)), width=width)
    assert fig.get_size_inches()[0] == pytest.approx({"single": 3.3, "double": 7.0}[width])
    assert_rendered(fig)


def assert_rendered(fig) -> None:
    """The figure renders to a non-blank image and nothing drawn lies outside the canvas."""
    px = render(fig)
    assert px.std() > 0.05
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    w, h = fig.canvas.get_width_height()
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        box = ax.get_tightbbox(renderer)
        assert box.x0 >= -2 and box.y0 >= -2 and box.x1 <= w + 2 and box.y1 <= h + 2, f"clipped: {box} in {w}x{h}"


# ---------------------------------------------------------------- line
def test_lines_overlaid_with_method_colours_and_marked_ends(tmp_path):
    lines = [read_line(write_line(tmp_path / m, m, length=1.0 + i)) for i, m in enumerate(("SGD", "SWA", "PSWA"))]
    fig = line_figure(lines)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    colors = {ln.get_color() for ln in ax.get_lines() if len(ln.get_xdata()) == 21}
    assert colors == {METHOD_COLORS[m] for m in ("SGD", "SWA", "PSWA")}
    legend = legend_texts(fig)
    assert "pretrained → SWA  (‖b − a‖ = 2)" in legend
    # Lengths differ, so there is no single distance axis.
    assert not ax.child_axes
    # Each line's train loss is marked at t = 0 and t = 1.
    ends = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 1]
    assert sorted(float(ln.get_xdata()[0]) for ln in ends) == [0.0] * 3 + [1.0] * 3
    assert "pretrained" in all_texts(fig)
    assert_rendered(fig)


def test_one_line_has_a_distance_axis_and_error_twin(tmp_path):
    line = read_line(write_line(tmp_path, "SWA", length=2.5, start="SGD final"))
    fig = line_figure([line])
    ax = fig.axes[0]
    (sec,) = ax.child_axes
    assert sec.get_xlabel().startswith("distance")
    # The secondary axis maps t to t·‖b − a‖: its limits are the primary's times the length.
    fig.canvas.draw()
    np.testing.assert_allclose(sec.get_xlim(), np.array(ax.get_xlim()) * 2.5)
    twin = [a for a in fig.axes if a is not ax and a is not sec and a.get_ylabel()]
    assert twin and twin[0].get_ylabel() == "test error (%)"


def test_line_clips_inf_and_regression_has_no_twin(tmp_path):
    line = read_line(write_line(tmp_path / "a", "SWA", nonfinite=True))
    fig = line_figure([line])
    assert "2 points off the loss scale (▲)" in all_texts(fig)
    assert "1 point missing (loss)" in all_texts(fig)
    ax = fig.axes[0]
    top = max(np.nanmax(ln.get_ydata()) for ln in ax.get_lines())
    assert np.isfinite(top)
    reg = read_line(write_line(tmp_path / "b", "SWA", regression=True))
    fig = line_figure([reg])
    assert not [a for a in fig.axes if "error" in a.get_ylabel()]
    assert_rendered(fig)


# ---------------------------------------------------------------- rays
def test_rays_mean_band_and_width(tmp_path):
    rays = read_rays(write_rays(tmp_path))
    fig = rays_figure([rays])
    ax = fig.axes[0]
    means = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == len(rays.distances)]
    np.testing.assert_allclose(means[0].get_ydata(), rays.values["train_loss"][0].mean(axis=0))
    assert means[0].get_color() == METHOD_COLORS["SGD"] and means[1].get_color() == METHOD_COLORS["SWA"]
    widths = [ln for ln in ax.get_lines() if ln.get_linestyle() not in ("-", "None") and len(ln.get_xdata()) == 2]
    assert sorted(float(w.get_xdata()[0]) for w in widths) == pytest.approx(sorted(rays.width.mean(axis=1)))
    legend = legend_texts(fig)
    assert any(t.startswith("SWA: width") and "δ = 0.1" in t for t in legend)
    assert "band: min–max over directions (5 directions)" in legend
    assert_rendered(fig)


def test_rays_several_files_nonfinite_and_regression(tmp_path):
    a = read_rays(write_rays(tmp_path / "sgd_run", nonfinite=True))
    b = read_rays(write_rays(tmp_path / "swa_run", seed=1))
    fig = rays_figure([a, b], band="std")
    legend = legend_texts(fig)
    assert any(t.startswith("sgd_run: SGD final") for t in legend)
    assert any(t.startswith("swa_run: SWA") for t in legend)
    assert "band: mean ± 1 std over directions (5 directions)" in legend
    assert "2 non-finite values left out" in all_texts(fig)
    reg = read_rays(write_rays(tmp_path / "reg", regression=True))
    fig = rays_figure([reg])
    assert [ax.get_ylabel() for ax in fig.axes] == ["train loss", "test loss"]
    assert_rendered(fig)


# ---------------------------------------------------------------- sharpness, curves
def test_sharpness_panels_and_error_bars(tmp_path):
    doc = read_sharpness(write_sharpness(tmp_path))
    fig = sharpness_figure([doc])
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert titles == ["Hessian top eigenvalues\n(higher = sharper)", "Hessian trace (Hutch++)\n(higher = sharper)",
                      "ε-sharpness ε=0.001, full\n(higher = sharper; lower bound)", "PAC-Bayes σ\n(higher = flatter)"]
    assert fig._suptitle.get_text() == "cnn_small · digits"
    trace_ax = fig.axes[1]
    heights = [p.get_height() for p in trace_ax.patches]
    assert heights == pytest.approx([50.0, 25.0])
    assert [p.get_facecolor()[:3] for p in trace_ax.patches] == [matplotlib.colors.to_rgb(METHOD_COLORS[m])
                                                                 for m in ("SGD", "SWA")]
    eig = fig.axes[0]
    assert len(eig.patches) == 6  # 3 eigenvalues × 2 checkpoints
    assert any("error bars: " in t for t in legend_texts(fig))
    assert_rendered(fig)
    spec = spectrum_figure([doc])
    assert spec is not None and spec.axes[0].get_yscale() == "log"
    assert spectrum_figure([read_sharpness(write_sharpness(tmp_path / "b", spectrum=False))]) is None


def test_pretty_row():
    assert pretty_row("adaptive_worst_l2[rho=0.5]") == "adaptive worst ℓ2 ρ=0.5"
    assert pretty_row("eps_sharpness[eps=0.0005, subspace 100]") == "ε-sharpness ε=0.0005, subspace 100"
    assert pretty_row("something_new") == "something_new"


def test_curves_lr_from_the_schedule(tmp_path):
    from swa.config import TrainConfig
    from swa.schedules import build_schedule

    run = read_run(write_run(tmp_path / "swa", "swa"))
    x, lr = lr_curve(run)
    cfg = TrainConfig.from_json(run.config)
    sched = build_schedule(cfg.lr_schedule, lr=cfg.lr, lr_min=cfg.lr_min, swa_lr=cfg.swa_lr, horizon=cfg.swa_start,
                           cycle=cfg.cycle, gamma=cfg.lr_gamma, milestones=cfg.lr_milestones, epochs=cfg.epochs,
                           iters_per_epoch=10)
    assert len(lr) == 12 * 10
    assert lr[57] == sched(57) and x[57] == pytest.approx(5.7)


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_curves_several_runs_pswa_window_and_regression(tmp_path):
    runs = [read_run(write_run(tmp_path / m, m)) for m in ("sgd", "swa", "pswa")]
    fig = curves_figure(runs)
    legend = legend_texts(fig)
    assert {"sgd", "swa", "pswa", "averaging window", "PSWA period end"} <= set(legend)
    acc_ax = fig.axes[0]
    assert acc_ax.get_ylabel() == "test accuracy (%)"
    assert fig._suptitle.get_text() == "mlp · digits"
    colors = {ln.get_color() for ln in acc_ax.get_lines() if len(ln.get_xdata()) > 2}
    assert colors == {METHOD_COLORS[m] for m in ("SGD", "SWA", "PSWA")}
    # PSWA period ends at epochs 9 (and 12, the run's end, not drawn).
    vlines = [ln for ln in acc_ax.get_lines() if ln.get_linestyle() == ":" and len(set(ln.get_xdata())) == 1]
    assert sorted({float(ln.get_xdata()[0]) for ln in vlines}) == [9.0]
    assert_rendered(fig)
    reg = curves_figure([read_run(write_run(tmp_path / "reg", "swa", regression=True))])
    assert "test accuracy (%)" not in [ax.get_ylabel() for ax in reg.axes]


def test_real_run_curves(tiny_run):
    fig = curves_figure([read_run(tiny_run.out)])
    assert_rendered(fig)


# ---------------------------------------------------------------- state, files
@pytest.mark.slow  # over 1 s: not in make test-fast
def test_drawing_changes_no_global_matplotlib_state(tmp_path):
    before = dict(matplotlib.rcParams)
    backend = matplotlib.get_backend()
    results = find_results([write_plane(tmp_path / "p"), write_line(tmp_path / "l", "SWA"),
                            write_rays(tmp_path / "r"), write_sharpness(tmp_path / "s"), write_run(tmp_path / "run")])
    draw_mod.draw(results, tmp_path / "out", draw_mod.PlotOptions(formats=("png",)))
    assert dict(matplotlib.rcParams) == before
    assert matplotlib.get_backend() == backend


@pytest.mark.slow
def test_every_kind_and_format_written(tmp_path):
    paths = [write_plane(tmp_path / "p"), write_line(tmp_path / "l", "SWA"), write_rays(tmp_path / "r"),
             write_sharpness(tmp_path / "s"), write_run(tmp_path / "run")]
    written = draw_mod.draw(find_results(paths), tmp_path / "out", draw_mod.PlotOptions(formats=("png", "pdf",
                                                                                                   "svg")))
    names = sorted(p.name for p in written)
    for stem in ("plane", "interp", "rays", "sharpness", "spectrum", "curves"):
        assert {f"{stem}.png", f"{stem}.pdf", f"{stem}.svg"} <= set(names)
    for p in written:
        head = p.read_bytes()[:200]
        if p.suffix == ".png":
            assert_picture(p)
            from PIL import Image

            dpi = Image.open(p).info.get("dpi", (0, 0))[0]
            assert 150 <= round(dpi) <= 200
        elif p.suffix == ".pdf":
            assert head.startswith(b"%PDF")
        else:
            assert b"<svg" in p.read_bytes()[:2000]


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_several_planes_get_their_folder_names(tmp_path):
    a = write_plane(tmp_path / "sgd")
    b = write_plane(tmp_path / "swa", alphas=np.linspace(-3, -1, 7), betas=np.linspace(-1, 4, 12), nonfinite=True)
    written = draw_mod.draw(find_results([a, b]), tmp_path / "out", draw_mod.PlotOptions())
    assert sorted(p.name for p in written) == ["plane-sgd.png", "plane-swa.png"]
    for p in written:
        assert_picture(p)


def test_find_results_searches_directories(tmp_path):
    write_plane(tmp_path / "a" / "plane")
    write_line(tmp_path / "a" / "interp", "SWA")
    write_run(tmp_path / "a" / "run")
    write_plane(tmp_path / "a" / "run" / "plane")   # results inside a run directory are found too
    found = find_results([tmp_path / "a"])
    assert {k: len(v) for k, v in found.items()} == {"plane": 2, "interp": 1, "run": 1}
    # A sidecar stands for its result; a file given twice is read once.
    found = find_results([tmp_path / "a" / "interp" / "interp.json", tmp_path / "a" / "interp" / "interp.npz"])
    assert {k: len(v) for k, v in found.items()} == {"interp": 1}


def _made(path, write):
    write(path)
    return path


def _arrays(**shapes):
    return {k: np.zeros(v) for k, v in shapes.items()}


@pytest.mark.parametrize("make,match", [
    (lambda d: _made(d / "x.txt", lambda p: p.write_text("hello")), "cannot plot"),
    (lambda d: _made(d / "plane.npz", lambda p: np.savez(p, alphas=np.arange(3.0))), "missing betas"),
    (lambda d: _made(d / "plane.npz", lambda p: np.savez(p, alphas=np.zeros(0), betas=np.zeros(3), **_arrays(
        train_loss=(0, 3), train_acc=(0, 3), test_loss=(0, 3), test_acc=(0, 3)))), "non-empty"),
    (lambda d: _made(d / "interp.npz", lambda p: np.savez(p, t=np.arange(3.0), **_arrays(
        train_loss=4, train_acc=3, test_loss=3, test_acc=3))), "shape"),
    (lambda d: _made(d / "interp.npz", lambda p: np.savez(p, t=np.arange(3.0), done=np.zeros(3, bool), **_arrays(
        train_loss=3, train_acc=3, test_loss=3, test_acc=3))), "no computed point"),
    (lambda d: _made(d / "plane.npz", lambda p: p.write_bytes(b"PK\x03\x04garbage")), "cannot read"),
    (lambda d: _made(d / "sharpness.json", lambda p: p.write_text("{}")), "not a sharpness.json"),
    (lambda d: d / "missing.npz", "does not exist"),
    (lambda d: _made(d / "empty", lambda p: p.mkdir()), "holds no result"),
])
def test_bad_inputs_are_user_errors(tmp_path, make, match):
    with pytest.raises(UserError, match=match):
        find_results([make(tmp_path)])


def test_labels_need_one_kind_and_the_right_count(tmp_path):
    results = find_results([write_line(tmp_path / "a", "SWA"), write_line(tmp_path / "b", "SGD")])
    written = draw_mod.draw(results, tmp_path / "o", draw_mod.PlotOptions(labels=("to SWA", "to SGD")))
    assert [p.name for p in written] == ["interp.png"]
    with pytest.raises(UserError, match="2 lines"):
        draw_mod.draw(results, tmp_path / "o", draw_mod.PlotOptions(labels=("one",)))
    mixed = find_results([write_line(tmp_path / "c", "SWA"), write_rays(tmp_path / "d")])
    with pytest.raises(UserError, match="one kind"):
        draw_mod.draw(mixed, tmp_path / "o", draw_mod.PlotOptions(labels=("x", "y")))


def test_parse_vmax():
    assert draw_mod.parse_vmax(["5"]) == {"*": 5.0}
    assert draw_mod.parse_vmax(["train_loss=5", "test_err=40"]) == {"train_loss": 5.0, "test_err": 40.0}
    for bad, match in (("x", "V or METRIC=V"), ("nope=3", "`metrics`: unknown metric 'nope'"), ("inf", "finite")):
        with pytest.raises(UserError, match=match):
            draw_mod.parse_vmax([bad])


def test_accuracy_panels_use_linear_levels(tmp_path):
    """Log-spaced levels crowd near the minimum, the bad end of an accuracy: accuracies get linear levels."""
    data = read_plane(write_plane(tmp_path))
    fig = plane_figure(data, metrics=["test_acc"])
    ticks = [float(t.get_text()) for t in fig.axes[-1].get_yticklabels() if t.get_text()]
    steps = np.diff(ticks)
    np.testing.assert_allclose(steps, steps[0], rtol=0.02)
