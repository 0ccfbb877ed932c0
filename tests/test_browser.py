"""The course in a real browser: JupyterLab served from the repository, Debian's Chromium driven by Playwright.

Notebook 04: the clip explorer's ε slider is moved with the keyboard and its plot must redraw.
Notebook 00: the training cell's progress bars and the reward plot must render.
Screenshots go to $PPO_LAB_SCREENSHOTS, else to `browser-screenshots/` under pytest's temporary folder.
Without Chromium or Playwright the tests skip, except where the variable CI is set: there they fail.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import NamedTuple

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
PLAYWRIGHT_PIN = "1.65.2"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]
INSTALL_HINT = f"install with: apt-get install -y chromium && pip install playwright=={PLAYWRIGHT_PIN}"
NB_CLIP = "notebooks/04_policy_loss.ipynb"
NB_CYCLE = "notebooks/00_ppo_cycle.ipynb"
# JupyterLab user settings for the test's private config folder: never write the notebooks back to the
# repository, keep every cell in the DOM (no virtual scrolling), no news or update checks
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# the notebook panel open on `path`, found through the application object JupyterLab exposes
JS_PANEL = """
  const ppoPanel = (path) => {
    const app = window.jupyterapp;
    if (!app) return null;
    for (const w of app.shell.widgets('main')) { if (w.context && w.context.path === path) return w; }
    return null;
  };
"""
JS_STATE = """
(path) => {""" + JS_PANEL + """
  const panel = ppoPanel(path);
  if (!panel || !panel.context.isReady || !panel.sessionContext.isReady) return {ready: false};
  const errors = [];
  panel.content.widgets.forEach((cell, i) => {
    if (cell.model.type !== 'code') return;
    for (let k = 0; k < cell.model.outputs.length; k++) {
      const o = cell.model.outputs.get(k).toJSON();
      if (o.output_type === 'error') errors.push({cell: i, ename: o.ename, evalue: o.evalue,
                                                  traceback: (o.traceback || []).join('\\n')});
    }
  });
  return {ready: true, id: panel.id, status: panel.sessionContext.kernelDisplayStatus, errors,
          sources: panel.content.widgets.map(c => c.model.sharedModel.getSource())};
}
"""
JS_RUN_UP_TO = """
([path, index]) => {""" + JS_PANEL + """
  const panel = ppoPanel(path), app = window.jupyterapp, cells = panel.content.widgets;
  app.shell.activateById(panel.id);
  if (index + 1 < cells.length) {
    panel.content.activeCellIndex = index + 1;   // "Run All Above Selected Cell" runs 0 … index
    void app.commands.execute('notebook:run-all-above');
  } else {
    void app.commands.execute('notebook:run-all-cells');
  }
}
"""


def _require_tools():
    """Skip (fail where CI is set) when Chromium or Playwright is missing."""
    missing = [] if os.path.exists(CHROMIUM) else [CHROMIUM]
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright")
    if missing:
        message = f"browser test needs {' and '.join(missing)}; {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so a missing browser is a failure, not a skip)")
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Ids of every process below `pid` (Linux /proc; empty elsewhere)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def _write_lab_settings(settings_dir: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        file = settings_dir / f"{plugin}.jupyterlab-settings"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(values))


def _stop(proc: subprocess.Popen, url: str, token: str) -> None:
    """Ask the server to shut down (it stops its kernels), then end whatever of its tree is left, by id."""
    tree = _descendants(proc.pid)
    with contextlib.suppress(OSError):
        request = urllib.request.Request(f"{url}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
        urllib.request.urlopen(request, timeout=5).close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=15)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    for pid in tree:   # kernels run in their own process groups
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


class Server(NamedTuple):
    url: str
    token: str
    log: Path


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """JupyterLab on a free loopback port with a random token; kernels use the CI preset. Yields a Server."""
    _require_tools()
    home = tmp_path_factory.mktemp("jupyter")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "MPLBACKEND"))}
    # PPO_LAB_CACHE off: the test watches a live run's progress bars, and a run the notebooks' tests cached shows none
    env.update(PPO_LAB_PRESET="ci", PPO_LAB_CACHE="off", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), IPYTHONDIR=str(home / "ipython"))
    _write_lab_settings(home / "settings")
    port, token = _free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = home / "jupyter.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {proc.returncode} before answering; log {log}:\n{_tail(log)}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).close()
                break
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer on {url} within 90 s; log {log}:\n{_tail(log)}")
            time.sleep(0.5)
        yield Server(url, token, log)
    finally:
        _stop(proc, url, token)


@pytest.fixture(scope="module")
def screenshots(request, tmp_path_factory) -> Path:
    """The folder screenshots are written to; its path is printed in the test report."""
    folder = Path(os.environ.get("PPO_LAB_SCREENSHOTS") or tmp_path_factory.getbasetemp() / "browser-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"browser screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser(lab_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    try:
        yield page
    finally:
        context.close()


class Lab:
    """One notebook open in JupyterLab in the browser: wait on it, run its cells, locate and photograph them."""

    def __init__(self, page, server: Server, path: str, screenshots: Path):
        self.page, self.server, self.path, self.screenshots = page, server, path, screenshots
        # `reset`: a fresh workspace, so no tab of an earlier test is restored
        page.goto(f"{server.url}/lab/tree/{path}?reset&token={server.token}", wait_until="domcontentloaded",
                  timeout=60_000)
        state = self.wait(lambda s: s["ready"] and s["status"] == "idle", 120,
                          "the notebook to open and its kernel to become idle")
        self.sources, self.id = state["sources"], state["id"]

    def state(self) -> dict:
        return self.page.evaluate(JS_STATE, self.path)

    def fail(self, message: str):
        shot = self.screenshots / f"FAILED-{Path(self.path).stem}.png"
        with contextlib.suppress(Exception):
            self.page.screenshot(path=str(shot), full_page=True)
        console = "\n".join(self.page.console_errors[-5:]) or "(none)"
        pytest.fail(f"{self.path}: {message}\nscreenshot: {shot}\nlast browser console errors:\n{console}")

    def wait(self, done, seconds: float, what: str) -> dict:
        """Poll until done(state) holds; fail early, with the traceback, if a cell raised."""
        deadline, state = time.monotonic() + seconds, {}
        while time.monotonic() < deadline:
            state = self.state() or {"ready": False}
            if state.get("errors"):
                e = state["errors"][0]
                self.fail(f"cell {e['cell']} raised {e['ename']}: {e['evalue']}\n{ANSI.sub('', e['traceback'])}")
            if done(state):
                return state
            self.page.wait_for_timeout(500)
        self.fail(f"gave up after {seconds:.0f} s waiting for {what} (kernel status: {state.get('status')})")

    def index(self, text: str) -> int:
        hits = [i for i, source in enumerate(self.sources) if text in source]
        if not hits:
            self.fail(f"no cell contains {text!r}")
        return hits[0]

    def cell(self, index: int):
        return self.page.locator(f"#{self.id} .jp-Cell").nth(index)

    def run_up_to(self, index: int) -> None:
        """Run every cell from the first to `index`, as "Run All Above Selected Cell" does."""
        self.page.evaluate(JS_RUN_UP_TO, [self.path, index])

    def wait_for(self, locator, seconds: float, what: str):
        """Poll until `locator` is visible; cell errors end the wait early."""
        self.wait(lambda s: locator.count() > 0 and locator.first.is_visible(), seconds, what)
        return locator.first

    def shot(self, locator, name: str) -> Path:
        path = self.screenshots / name
        locator.screenshot(path=str(path))
        return path

    def assert_notebook_not_saved(self):
        """The repository's notebooks stay without outputs: the server never saved this one."""
        saves = [line for line in self.server.log.read_text(errors="replace").splitlines()
                 if "Saving file at" in line and self.path in line]
        assert not saves, f"JupyterLab wrote {self.path} back to disk: {saves}"


def _changed_pixels(a: Path, b: Path) -> float:
    """Fraction of pixels that differ between two screenshots (1.0 when their sizes differ)."""
    from PIL import Image, ImageChops

    with Image.open(a) as x, Image.open(b) as y:
        if x.size != y.size:
            return 1.0
        diff = ImageChops.difference(x.convert("RGB"), y.convert("RGB")).convert("L").point(lambda v: v > 16)
        return sum(diff.histogram()[1:]) / (x.size[0] * x.size[1])


def _image_src(output) -> str:
    """The src of the first fully loaded <img> in an output area, '' while there is none (never waits)."""
    srcs = output.locator("img").evaluate_all("imgs => imgs.filter(i => i.complete && i.naturalWidth > 0)"
                                              ".map(i => i.src)")
    return srcs[0] if srcs else ""


def _settled_image(lab: Lab, output, old_src: str, seconds: float, what: str) -> str:
    """Wait until the output shows a loaded <img> other than `old_src`, unchanged for 2 s with the kernel idle."""
    seen = {"src": None, "since": time.monotonic()}

    def settled(state):
        src = _image_src(output)
        if state["status"] != "idle" or src in ("", old_src) or src != seen["src"]:
            seen.update(src=src, since=time.monotonic())
            return False
        return time.monotonic() - seen["since"] >= 2.0

    lab.wait(settled, seconds, what)
    return seen["src"]


@contextlib.contextmanager
def _screenshot_on_failure(page, screenshots: Path, name: str):
    """A full-page screenshot when the block raises, named in the error."""
    try:
        yield
    except Exception as error:
        shot = screenshots / f"FAILED-{name}.png"
        with contextlib.suppress(Exception):
            page.screenshot(path=str(shot), full_page=True)
        raise AssertionError(f"{error}\nscreenshot: {shot}") from error


def test_clip_explorer_slider_redraws_the_plot(lab_server, page, screenshots):
    with _screenshot_on_failure(page, screenshots, "04-clip-explorer"):
        lab = Lab(page, lab_server, NB_CLIP, screenshots)
        index = lab.index("lab.widgets.clip_explorer()")
        assert "ablation(" not in "".join(lab.sources[:index + 1]), "the slow ablation cell must not run here"
        lab.run_up_to(index)
        cell = lab.cell(index)
        output = cell.locator(".jp-Cell-outputArea")
        lab.wait_for(cell.locator(".widget-slider"), 120, "the clip explorer's sliders")
        before_src = _settled_image(lab, output, "", 60, "the clip explorer's plot")
        readout = cell.locator(".widget-slider .widget-readout").first
        before_eps = readout.inner_text()
        before = lab.shot(output, "04-clip-explorer-before.png")

        handle = cell.locator(".widget-slider .noUi-handle").first
        handle.focus()
        for _ in range(2):
            handle.press("PageUp")   # the slider's keyboard: five steps of ε per press
        lab.wait(lambda s: readout.inner_text() != before_eps, 30, f"the ε readout to move from {before_eps}")
        _settled_image(lab, output, before_src, 90, "the plot to redraw after ε moved")
        after = lab.shot(output, "04-clip-explorer-after.png")

        after_eps = readout.inner_text()
        assert float(after_eps) > float(before_eps), f"ε did not increase: {before_eps} → {after_eps}"
        changed = _changed_pixels(before, after)
        assert changed > 0.005, f"only {changed:.2%} of the output's pixels changed when ε moved"
        lab.assert_notebook_not_saved()


def test_ppo_cycle_shows_progress_bars_and_reward_plot(lab_server, page, screenshots):
    with _screenshot_on_failure(page, screenshots, "00-ppo-cycle"):
        lab = Lab(page, lab_server, NB_CYCLE, screenshots)
        train, plot = lab.index("over_seeds("), lab.index("lab.plots.curves(")
        assert train < plot, "the reward plot's cell should follow the training cell"
        lab.run_up_to(plot)

        progress = lab.cell(train).locator(".jp-Cell-outputArea")
        bars = progress.locator(".widget-hbox:has(.widget-hprogress)")
        lab.wait_for(bars, 150, "the training cell's progress bar")
        lab.wait(lambda s: re.search(r"\b[1-9]\d*/\d+", " ".join(bars.all_inner_texts())), 180,
                 "the progress bar to count its first PPO iteration")
        lab.shot(progress, "00-training-progress-running.png")
        figure = lab.cell(plot).locator(".jp-Cell-outputArea")
        _settled_image(lab, figure, "", 360, "the reward plot")
        lab.shot(progress, "00-training-progress-done.png")
        lab.shot(figure, "00-reward-plot.png")

        texts = bars.all_inner_texts()
        finished = [text for text in texts if re.search(r"\b(\d+)/\1\b", text)]
        assert texts and len(finished) == len(texts), f"every progress bar should reach its total; bars read {texts}"
        width = figure.locator("img").first.evaluate("img => img.naturalWidth")
        assert width > 200, f"the reward plot rendered {width} px wide"
        lab.assert_notebook_not_saved()
