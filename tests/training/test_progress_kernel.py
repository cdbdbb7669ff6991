"""Redrawn lines (\\r, tqdm, ANSI colours) in real kernels: stored logs, %kf_logs and the live view."""
import os
import re

import pytest

from tests.support.notebook_runs import errors, run_notebook, text, widget_states

pytest.importorskip("tqdm")

JOB = r'''%%kf_train --name bars-1 --workers 2
import sys, tqdm
for i in range(1, 6):
    print(f"\rprogress {i}/5 [{'#' * i}{' ' * (5 - i)}]", end="", flush=True)
print()
for _ in tqdm.tqdm(range(300), desc="train", file=sys.stdout, mininterval=0, miniters=1):
    pass
print("\x1b[32mgreen\x1b[0m done")'''


@pytest.fixture(autouse=True)
def kernel_env(kf_state_dir, monkeypatch):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    monkeypatch.setenv("PYTHONPATH", root + os.pathsep + os.environ.get("PYTHONPATH", ""))


def test_redrawn_lines_keep_their_last_state_everywhere(tmp_path):
    nb = run_notebook(["%load_ext jupyter_kf", JOB, "%kf_logs bars-1",
                       "import jupyter_kf as kf\nprint(repr(list(kf.job('bars-1').logs())))"], tmp_path)
    train, logs, api_logs = nb.cells[1:]
    assert not errors(train), text(train)
    shown = text(logs).splitlines()
    for rank in (0, 1):
        mine = [line for line in shown if line.startswith(f"[{rank}] ")]
        assert mine[0] == f"[{rank}] progress 5/5 [#####]", shown  # one line, its last state
        assert re.fullmatch(rf"\[{rank}\] train: 100%\|█+\| 300/300 \[[\d:]+<00:00, .*it/s\]", mine[1]), mine
        assert mine[2:] == [f"[{rank}] green done"]  # colours stripped
    assert "\\r" not in text(api_logs) and "\\x1b" not in text(api_logs)
    html = " ".join(str(s["state"].get("value", "")) for s in widget_states(nb).values())
    assert html.count('class="kf-progress"') == 2 and html.count('data-percent="100"') == 2  # a bar a worker
    assert "worker 1" in html and "300/300" in html
    assert "progress 1/5" not in html and "[0] progress 5/5 [#####]" in html
    took = re.search(r"bars-1 succeeded in ([\d.]+)s", html)
    assert took and (float(took[1]) >= 10 or "." in took[1]), html[-400:]  # tenths below ten seconds
