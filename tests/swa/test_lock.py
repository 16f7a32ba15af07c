"""One writer per output directory (swa.lock): a second writer is refused with the holder's PID; a lock left
by a killed process blocks nobody; a command that fails before writing leaves no directory behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from swa.lock import LOCK_NAME, BusyError, output_lock

from support import ROOT, cli

HOLD = "import sys, time; from swa.lock import output_lock\nwith output_lock(sys.argv[1]):\n" \
       "    print('locked', flush=True); time.sleep(120)"


@pytest.fixture
def holder(tmp_path):
    """A separate process holding the lock of ``tmp_path / 'out'``."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.stdout.readline().strip() == "locked"
    yield out, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_second_writer_is_refused_with_the_holders_pid(holder, tiny_run, capsys):
    out, proc = holder
    (out / "plane.npz").write_bytes(b"results of the first writer")
    code, stdout, err = cli(capsys, "plane", "--run", str(tiny_run.out), "--out", str(out), "--grid", "2",
                            "--device", "cpu", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{out} is being written by another process (PID {proc.pid})" in err
    assert (out / "plane.npz").read_bytes() == b"results of the first writer"
    with pytest.raises(BusyError, match=f"PID {proc.pid}"):
        with output_lock(out):
            pass


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_a_killed_holder_blocks_nobody(holder, tiny_run, capsys):
    out, proc = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / LOCK_NAME).read_text().strip() == str(proc.pid)  # the stale file is still there
    code, stdout, err = cli(capsys, "interp", "--run", str(tiny_run.out), "--out", str(out), "--t", "0:1:2",
                            "--device", "cpu", "--quiet", "--no-plot")
    assert code == 0, err
    assert (out / "interp.npz").is_file()


def test_the_lock_is_released_and_a_failed_command_leaves_no_directory(tmp_path, capsys):
    with output_lock(tmp_path / "a"):
        pass
    with output_lock(tmp_path / "a"):  # released on leaving the block
        pass
    assert not (tmp_path / "a").exists()  # created for the lock only, so removed again
    code, _, err = cli(capsys, "plane", "--out", str(tmp_path / "b"), "--data", "digits")
    assert code == 2 and "--model NAME" in err
    assert not (tmp_path / "b").exists()



def test_orphan_temporary_files_of_ours_are_removed_when_the_lock_is_taken(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    orphans = [".plane.npz.a1b2c3d4.tmp", ".final.pt.x_9zz0q1.tmp", ".report.html.abcdefgh.tmp"]
    kept = [".plane.npz.a1b2c3.tmp", "notes.tmp", ".plane.npz.A1B2C3D4.tmp", "plane.npz.a1b2c3d4.tmp",
            ".plane.npz.a1b2c3d4.tmpx", ".a1b2c3d4.tmp", "plane.npz"]
    for name in orphans + kept:
        (out / name).write_bytes(b"x" * 1000)
    (out / ".dir.abcdefgh.tmp").mkdir()
    (out / ".link.abcdefgh.tmp").symlink_to(tmp_path / "elsewhere")
    (out / "nested").mkdir()
    (out / "nested" / ".plane.npz.a1b2c3d4.tmp").write_bytes(b"another writer's, maybe")
    with output_lock(out):
        names = {p.name for p in out.iterdir()}
    assert not names & set(orphans)
    assert names >= set(kept) | {".dir.abcdefgh.tmp", ".link.abcdefgh.tmp", "nested", LOCK_NAME}
    assert (out / "nested" / ".plane.npz.a1b2c3d4.tmp").exists()  # only the locked directory itself


def test_the_lock_file_is_removed_at_exit_but_never_someone_elses(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with output_lock(out) as path:
        assert path.exists()
    assert sorted(out.iterdir()) == []  # the directory existed: it stays, without the lock file
    with output_lock(out) as path:
        path.unlink()  # someone removed ours and another writer made a new one
        path.write_text("12345\n")
    assert path.read_text() == "12345\n"
