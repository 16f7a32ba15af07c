"""One writer per output directory (swa.lock): a second writer is refused with the holder's PID; a lock left
by a killed process blocks nobody; a command that fails before writing leaves no directory behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from swa.lock import LOCK_NAME, BusyError, output_lock

from conftest import ROOT, cli

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

