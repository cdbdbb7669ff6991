"""The sidebar panel's first paint with 100 / 1,000 / 10,000 local jobs, in real headless Chromium.

Time from opening the Kubeflow panel to the frame that shows its job rows (the listing request, the
render, the paint), measured in the page with ``performance.now()``; beside it the longest main-thread
task in that time (what "blocking" means: a task over 50 ms is one the user can feel). The baseline,
measured in the same run, is the same panel listing 10 jobs. Each size runs its own JupyterLab server
(a real subprocess, as tests/ui does) over a state folder of finished jobs; every repetition reloads the
page so each paint is a first paint. ``KF_BENCH_PANEL_BEFORE=<a JUPYTER_PATH folder holding
labextensions/jupyter-kf>`` measures that build too, in the same run (the panel before a change).
"""
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench_listing import make_jobs
from common import report

CHROMIUM = "/usr/bin/chromium"
SIZES = (10, 100, 1_000, 10_000)

# Before the click: the time of the pointer going down on the panel's tab, and a record of long tasks.
ARM = """() => {
  window.kfBench = { longest: 0, start: null };
  new PerformanceObserver(list => {
    for (const entry of list.getEntries()) {
      window.kfBench.longest = Math.max(window.kfBench.longest, entry.duration);
    }
  }).observe({ type: 'longtask' });
  document.addEventListener('pointerdown', () => { window.kfBench.start ??= performance.now(); }, true);
}"""

# After the click: resolves, after the frame that shows the rows, with
# [milliseconds from the click to that frame, the longest task in between, rows in the DOM].
PAINTED = """async (expected) => {
  const title = () => document.querySelector('section[data-section="jobs"] .jp-KFPanel-sectionTitle');
  while (!(title() && title().textContent.includes(`(${expected})`))) {
    await new Promise(resolve => requestAnimationFrame(resolve));
  }
  await new Promise(resolve => requestAnimationFrame(() => setTimeout(resolve, 0)));
  const painted = performance.now() - window.kfBench.start;
  await new Promise(resolve => setTimeout(resolve, 100));  // a long task is reported once it ended
  const rows = document.querySelectorAll('section[data-section="jobs"] .jp-KFPanel-item').length;
  return [painted, window.kfBench.longest, rows];
}"""
TAB = '.jp-SideBar.jp-mod-left li[data-id="jupyter-kf-panel"]'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_lab(state: Path, jupyter_path: str | None = None) -> tuple[subprocess.Popen, str]:
    """A JupyterLab server over ``state``'s jobs (with the labextension found first in ``jupyter_path``, if
    given); returns it and the URL of its lab page."""
    token, port = secrets.token_hex(16), free_port()
    home = state / "home"
    env = {**os.environ, "JUPYTER_KF_STATE_DIR": str(state), "JUPYTER_KF_BACKEND": "local",
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "ws"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), **({"JUPYTER_PATH": jupyter_path} if jupyter_path else {})}
    news = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}')
    (state / "root").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={state / 'root'}",
         "--LabApp.extension_manager=readonly", "--ServerApp.port_retries=0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    wait_for_server(proc, f"{base}/api/status?token={token}")
    return proc, f"{base}/lab?token={token}"


def wait_for_server(proc: subprocess.Popen, url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"JupyterLab did not start (exit code {proc.poll()})")


def first_paints(browser, url: str, size: int, repeat: int) -> tuple[list[float], list[float], int]:
    """``repeat`` first paints of the panel (a fresh page each); seconds to paint, longest tasks, rows shown."""
    paints, longest, rows = [], [], 0
    for _ in range(repeat + 1):  # the first load warms the server's and the browser's caches
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{url}&reset")  # no layout restored: the panel opens with the click, not before
        page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
        page.wait_for_selector(TAB, timeout=60_000)
        assert not page.locator("#jupyter-kf-panel").is_visible()
        page.evaluate(ARM)
        page.click(TAB)
        painted, task, rows = page.evaluate(PAINTED, size)
        paints.append(painted / 1000)
        longest.append(task / 1000)
        page.close()
    return paints[1:], longest[1:], rows


def measure(browser, size: int, repeat: int, jupyter_path: str | None = None) -> tuple[list[float], list[float], int]:
    state = Path(tempfile.mkdtemp(prefix="kf-bench-panel-"))
    make_jobs(state / "jobs", size)
    proc, url = start_lab(state, jupyter_path)
    try:
        return first_paints(browser, url, size, repeat)
    finally:
        proc.terminate()
        proc.wait(10)


def main(repeat: int = 5, sizes=SIZES):
    if not Path(CHROMIUM).exists():
        print(f"\n## panel first paint: skipped ({CHROMIUM} is missing)")
        return
    from playwright.sync_api import sync_playwright

    from tests.ui.conftest import CHROMIUM_FLAGS

    builds = {"": None}
    if os.environ.get("KF_BENCH_PANEL_BEFORE"):
        builds["before: "] = os.environ["KF_BENCH_PANEL_BEFORE"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        results = {(build, size): measure(browser, size, repeat, path)
                   for build, path in builds.items() for size in sizes}
        browser.close()
    report("panel: open to first paint of the job rows", [
        (f"{'baseline: ' if i == 0 else build}{size:,} jobs ({rows} rows in the DOM)", paints)
        for i, ((build, size), (paints, _, rows)) in enumerate(results.items())])
    print("  longest main-thread task while opening (over 50 ms blocks the page):")
    for (build, size), (_, longest, _) in results.items():
        print(f"    {build}{size:>6,} jobs: median {statistics.median(longest) * 1000:7.1f} ms, "
              f"max {max(longest) * 1000:7.1f} ms")
    for build in builds:
        small, big = results[build, sizes[1]][0], results[build, sizes[-1]][0]
        print(f"  {build}growth, first paint: x{statistics.median(big) / statistics.median(small):.1f} "
              f"for x{sizes[-1] // sizes[1]} jobs")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
