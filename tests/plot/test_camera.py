"""Issue 20: the 3D page's camera shows every marker (the fixed eye (-1.5, -1.6, 1.1) could hide an anchor).

The reference is an analytic surface, a bowl with a tall wall across the line of sight of the old eye, and an
obvious line-of-sight check written here against the analytic heights (not the grid), 20,000 samples a segment.
"""

from __future__ import annotations

import numpy as np
import pytest

from landscape.results.read import read_plane
from landscape.plot.surface import (AUTORANGE_PAD, DEFAULT_EYE, candidate_eyes, choose_eye, hidden_markers,
                                    plane_page)

from plot_cases import write_plane

GRID = np.linspace(-1.0, 1.0, 81)
ASPECT = (1.0, 1.0, 0.7)


def wall_bowl(x, y):
    """x² + y² with a wall of height 3 along x + y = −0.6, between the old eye's corner (−x, −y) and the middle."""
    return x ** 2 + y ** 2 + 3.0 * np.exp(-((x + y + 0.6) / 0.15) ** 2)


def _surface(f):
    x, y = np.meshgrid(GRID, GRID, indexing="ij")
    return f(x, y)


def _seen(eye, marker, f, surface, lift):
    """The slow obvious check: the segment from ``eye`` to ``marker`` (scaled coordinates as plotly draws them)
    stays above the analytic surface ``f`` except within 0.03 of the marker."""
    zs = np.concatenate([surface.ravel(), [marker[2]]])
    lo = np.array([GRID[0], GRID[0], zs.min()])
    hi = np.array([GRID[-1], GRID[-1], zs.max()])
    lo, hi = lo - AUTORANGE_PAD * (hi - lo), hi + AUTORANGE_PAD * (hi - lo)
    scale, mid = np.array(ASPECT) / (hi - lo), (lo + hi) / 2
    M, E = (np.asarray(marker) - mid) * scale, np.asarray(eye, dtype=float)
    P = E + np.linspace(0.0, 1.0, 20_000, endpoint=False)[:, None] * (M - E)
    x, y = (P[:, :2] / scale[:2] + mid[:2]).T
    inside = (np.abs(x) <= 1) & (np.abs(y) <= 1) & (np.linalg.norm(P - M, axis=1) > 0.03)
    return not np.any(inside & (P[:, 2] < (f(x, y) - mid[2]) * scale[2] - 2e-3))


def test_the_chosen_eye_sees_a_marker_behind_a_wall():
    surface = _surface(wall_bowl)
    lift = 0.01 * np.ptp(surface)
    marker = np.array([[0.3, 0.3, wall_bowl(0.3, 0.3) + lift]])
    assert hidden_markers(DEFAULT_EYE, marker, GRID, GRID, surface, ASPECT).tolist() == [True]
    assert not _seen(DEFAULT_EYE, marker[0], wall_bowl, surface, lift)  # the old camera hides it, truly
    eye, hidden = choose_eye(marker, GRID, GRID, surface, ASPECT)
    assert hidden == 0 and eye != DEFAULT_EYE
    assert hidden_markers(eye, marker, GRID, GRID, surface, ASPECT).tolist() == [False]
    assert _seen(eye, marker[0], wall_bowl, surface, lift)
    assert eye in candidate_eyes()
    # it is the first candidate that sees it: each one before it hides the marker
    earlier = candidate_eyes()[:candidate_eyes().index(eye)]
    assert earlier and all(not _seen(e, marker[0], wall_bowl, surface, lift) for e in earlier[:3])


def test_a_surface_rising_away_keeps_the_default_view_and_holes_hide_nothing():
    slope = _surface(lambda x, y: x + y)  # rises away from the old eye at (−x, −y): everything is in sight
    markers = np.array([[0.0, 0.0, 0.02], [0.9, -0.9, 0.02], [-0.9, 0.9, 0.02], [np.nan, 0.0, 0.0]])
    assert choose_eye(markers, GRID, GRID, slope, ASPECT) == (DEFAULT_EYE, 0)
    # A bowl's bottom, though, is behind its near rim from that low eye (the page's old camera did hide anchors).
    bowl = _surface(lambda x, y: x ** 2 + y ** 2)
    assert hidden_markers(DEFAULT_EYE, [[0.0, 0.0, 0.02]], GRID, GRID, bowl, ASPECT).tolist() == [True]
    assert not _seen(DEFAULT_EYE, [0.0, 0.0, 0.02], lambda x, y: x ** 2 + y ** 2, bowl, 0.02)
    walled = _surface(wall_bowl)
    marker = np.array([[0.3, 0.3, wall_bowl(0.3, 0.3) + 0.03]])
    walled[GRID[:, None] + GRID[None, :] < -0.1] = np.nan  # the wall and the rim behind it: a hole (diverged)
    assert hidden_markers(DEFAULT_EYE, marker, GRID, GRID, walled, ASPECT).tolist() == [False]


def test_nothing_sees_it_the_fewest_hidden_wins():
    surface = _surface(wall_bowl)
    marker = np.array([[0.3, 0.3, wall_bowl(0.3, 0.3) + 0.03]])
    eye, hidden = choose_eye(marker, GRID, GRID, surface, ASPECT, candidates=[DEFAULT_EYE])
    assert (eye, hidden) == (DEFAULT_EYE, 1)


def test_candidate_eyes():
    eyes = np.array(candidate_eyes())
    assert tuple(eyes[0]) == DEFAULT_EYE and len(eyes) == 24
    np.testing.assert_allclose(np.linalg.norm(eyes, axis=1), np.linalg.norm(DEFAULT_EYE))  # one distance
    az = np.arctan2(eyes[:8, 1], eyes[:8, 0]) - np.arctan2(DEFAULT_EYE[1], DEFAULT_EYE[0])
    steps = np.radians([0, 45, -45, 90, -90, 135, -135, 180])
    np.testing.assert_allclose(np.cos(az), np.cos(steps), atol=1e-9)
    np.testing.assert_allclose(np.sin(az), np.sin(steps), atol=1e-9)
    elev = np.degrees(np.arctan2(eyes[:, 2], np.hypot(eyes[:, 0], eyes[:, 1])))
    np.testing.assert_allclose(elev[8:16], 50.0)
    np.testing.assert_allclose(elev[16:], 70.0)


def test_the_page_uses_a_camera_that_sees_every_marker(tmp_path):
    """The plotting tests' bowl (log scale): from the old eye its near rim hides the SWA point and the
    trajectory's last point, both in the well around the minimum; the page turns the camera until they show."""
    data = read_plane(write_plane(tmp_path))
    page = plane_page(data)
    scene = page.layout.scene
    eye = tuple(scene.camera.eye[c] for c in "xyz")
    aspect = (scene.aspectratio.x, scene.aspectratio.y, scene.aspectratio.z)
    surface = np.asarray(page.data[0].z, dtype=float).T  # drawn (ny, nx) → (nx, ny)
    traj = np.column_stack([page.data[1].x, page.data[1].y, page.data[1].z])[[0, -1]]  # its end points
    markers = np.concatenate([traj] + [np.column_stack([t.x, t.y, t.z]) for t in page.data[2:]])
    assert len(markers) == 2 + 3 + 2  # trajectory ends, anchors, SGD and SWA
    old = hidden_markers(DEFAULT_EYE, markers, data.alphas, data.betas, surface, aspect)
    assert old.tolist() == [False, True, False, False, False, False, True]
    assert eye != pytest.approx(DEFAULT_EYE) and eye == pytest.approx(choose_eye(markers, data.alphas, data.betas,
                                                                                 surface, aspect)[0])
    assert not hidden_markers(eye, markers, data.alphas, data.betas, surface, aspect).any()
