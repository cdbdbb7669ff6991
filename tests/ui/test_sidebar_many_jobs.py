"""The sidebar's Jobs section with 1,000 jobs in a real JupyterLab and Chromium: a virtualised list holds only
the rows in view (and a margin) in the DOM, and scrolling to its end shows the oldest job."""
from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import open_panel, section

pytestmark = pytest.mark.ui

JOBS = 1_000


def write_finished_jobs(jobs_dir, count):
    """``count`` finished jobs as a supervisor leaves them, ``job-0000`` the oldest: fast, no process run."""
    jobs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for i in range(count):
        folder = jobs_dir / f"job-{i:04d}"
        folder.mkdir(mode=0o700)
        ts = 1.7e9 + i
        spec = {"name": folder.name, "workers": 1, "cpu": None, "memory": None, "gpus": 0, "env": {}, "pip": []}
        meta = {"spec": spec, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)), "created_ts": ts,
                "python": "3.11", "code": "x = 1", "source": "x = 1", "modules": {}, "inputs": []}
        state = {"phase": "Succeeded", "started": meta["created"], "finished": meta["created"], "message": "",
                 "supervisor_pid": 1, "workers": [{"rank": 0, "phase": "Succeeded", "exit_code": 0, "pid": 2}]}
        (folder / "meta.json").write_text(json.dumps(meta))
        (folder / "status.json").write_text(json.dumps(state))


def job_row(panel, name):
    return panel.locator(f'.jp-KFPanel-item[data-job="{name}"]')


def scroll_to_end_of(panel, jobs_section):
    """Scroll the panel until the bottom of the jobs list meets the bottom of the view."""
    panel.evaluate(
        """(scroller, list) => {
          const gap = list.getBoundingClientRect().bottom - scroller.getBoundingClientRect().bottom;
          scroller.scrollTop += gap;
        }""",
        jobs_section.locator(".jp-KFPanel-list").element_handle(),
    )


def test_a_thousand_jobs_render_as_a_window_and_scroll_to_the_last(lab, page, kf_state_dir):
    write_finished_jobs(kf_state_dir / "jobs", JOBS)
    base, token = lab
    panel = open_panel(page, base, token)
    jobs_section = section(panel, "jobs")
    rows = jobs_section.locator(".jp-KFPanel-item")

    expect(jobs_section.locator(".jp-KFPanel-sectionTitle")).to_have_text(f"Jobs ({JOBS})")
    expect(job_row(panel, "job-0999")).to_be_in_viewport()  # newest first
    assert 0 < rows.count() < JOBS // 5
    expect(job_row(panel, "job-0000")).to_have_count(0)
    expect(rows.first).to_have_attribute("aria-setsize", str(JOBS))

    # A scroll re-renders the window at the next frame; the list's height stands in for the rows not drawn,
    # so a scroll may end a little short of the end: scroll again until the list's end is in view.
    last = job_row(panel, "job-0000")
    deadline = time.monotonic() + 15
    while not last.count() and time.monotonic() < deadline:
        scroll_to_end_of(panel, jobs_section)
        page.wait_for_timeout(100)
    expect(last).to_be_in_viewport()
    expect(last).to_have_attribute("aria-posinset", str(JOBS))
    assert 0 < rows.count() < JOBS // 5
    expect(job_row(panel, "job-0999")).to_have_count(0)
