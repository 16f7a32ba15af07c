"""Headless Chromium for tests: open a page from disk, collect JavaScript errors, take a screenshot.

Talks the DevTools protocol over ``--remote-debugging-pipe`` (fd 3 in, fd 4 out,
NUL-separated JSON), so no extra package is needed. Errors collected: uncaught
exceptions (``Runtime.exceptionThrown``), ``console.error`` calls and
error-level log entries from JavaScript.

``find_chromium()`` returns the binary, installing Debian's ``chromium`` with
apt-get when it is missing and we are root (about a minute, once).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

__all__ = ["find_chromium", "PageResult", "open_page"]

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _which() -> Optional[str]:
    for name in _NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def find_chromium(install: bool = True) -> tuple[Optional[str], str]:
    """``(path, why)``: the Chromium binary, or ``None`` and the reason there is none."""
    path = _which()
    if path or not install:
        return path, "" if path else "chromium is not installed"
    if shutil.which("apt-get") is None:
        return None, "chromium is not installed and apt-get is not available"
    if os.geteuid() != 0:
        return None, "chromium is not installed and installing it needs root (apt-get install chromium)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            return None, f"{' '.join(cmd)} failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}"
    path = _which()
    return path, "" if path else "apt-get installed chromium but no binary was found"


@dataclass
class PageResult:
    """What a page did: its JavaScript errors, every console message (``level: text``, warnings included),
    a PNG screenshot, and values of ``evaluate`` expressions."""

    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    screenshot: bytes = b""
    values: dict[str, Any] = field(default_factory=dict)


class _Pipe:
    def __init__(self, proc: subprocess.Popen, to_browser: int, from_browser: int) -> None:
        self.proc, self.w, self.r = proc, to_browser, from_browser
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: Optional[dict] = None, session: Optional[str] = None,
             timeout: float = 60) -> dict:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, name: str, timeout: float) -> bool:
        deadline = time.time() + timeout
        if any(e.get("method") == name for e in self.events):
            return True
        while time.time() < deadline:
            try:
                e = self._read(deadline)
            except TimeoutError:
                return False
            self.events.append(e)
            if e.get("method") == name:
                return True
        return False

    def _read(self, deadline: float) -> dict:
        import select

        while b"\0" not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no answer from chromium")
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)


def open_page(chromium: str, path: Path, *, width: int = 1200, height: int = 800, settle: float = 1.5,
              ready: str = "true", evaluate: Optional[dict[str, str]] = None, timeout: float = 60,
              flags: tuple[str, ...] = ()) -> PageResult:
    """Load ``path`` (a file) in headless Chromium and report what happened.

    Args:
        ready: a JavaScript expression; the page counts as rendered once it is true (polled).
        settle: seconds to wait after ``ready`` before the screenshot.
        evaluate: name → JavaScript expression, evaluated after rendering (results in ``values``; a promise
            is awaited, so an expression can scroll and wait).
        flags: more Chromium switches (``--max-active-webgl-contexts=7``).
    """
    to_b_r, to_b_w = os.pipe()
    from_b_r, from_b_w = os.pipe()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")

    def child_fds() -> None:  # the protocol's fixed descriptors: 3 = commands in, 4 = replies out
        a, b = os.dup(to_b_r), os.dup(from_b_w)
        os.dup2(a, 3)
        os.dup2(b, 4)

    args = [chromium, "--headless", "--no-sandbox", "--remote-debugging-pipe", "--no-first-run",
            "--disable-dev-shm-usage", "--disable-extensions", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
            "--hide-scrollbars", f"--window-size={width},{height}", f"--user-data-dir={profile}", *flags, "about:blank"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=child_fds, pass_fds=(3, 4))
    os.close(to_b_r)
    os.close(from_b_w)
    pipe = _Pipe(proc, to_b_w, from_b_r)
    result = PageResult()
    try:
        targets = pipe.send("Target.getTargets", timeout=timeout)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        session = pipe.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            pipe.send(f"{domain}.enable", session=session)
        pipe.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        pipe.events.clear()
        pipe.send("Page.navigate", {"url": Path(path).resolve().as_uri()}, session=session)
        pipe.wait_event("Page.loadEventFired", timeout)
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = pipe.send("Runtime.evaluate", {"expression": f"Boolean({ready})", "returnByValue": True},
                            session=session)
            if got.get("result", {}).get("value"):
                break
            time.sleep(0.2)
        else:
            result.errors.append(f"page never became ready: {ready}")
        time.sleep(settle)
        for name, expr in (evaluate or {}).items():
            got = pipe.send("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True},
                            session=session, timeout=timeout)
            result.values[name] = got.get("result", {}).get("value")
        shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session)
        result.screenshot = base64.b64decode(shot["data"])
        for e in pipe.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled":
                result.console.append(f"{params.get('type')}: " + " ".join(
                    str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Log.entryAdded":
                result.console.append(f"{params.get('entry', {}).get('level')}: {params.get('entry', {}).get('text')}")
            if method == "Runtime.exceptionThrown":
                d = params.get("exceptionDetails", {})
                result.errors.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                result.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                if entry.get("level") == "error" and entry.get("source") in ("javascript", "network", "security"):
                    result.errors.append(f"{entry.get('source')}: {entry.get('text')}")
    finally:
        try:
            pipe.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(to_b_w)
        os.close(from_b_r)
        shutil.rmtree(profile, ignore_errors=True)
    return result
