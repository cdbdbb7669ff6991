"""The magics in real kernels, driven by nbclient as a notebook would run them."""
import json
import os
import time

import pytest
from jupyter_client.manager import start_new_kernel

from tests.support.notebook_runs import errors, run_notebook, text, widget_states

SETUP = """import numpy as np
X = np.arange(20.0).reshape(10, 2)
y = X.sum(axis=1)
def fit(X, y, epochs=1):
    for epoch in range(epochs):
        print(f"epoch={epoch} loss={1 / (epoch + 1):.3f}")
    return {"w": round(float(np.linalg.lstsq(X, y, rcond=None)[0].sum()), 6)}
def evaluate(model):
    return round(model["w"], 6)"""


@pytest.fixture(autouse=True)
def kernel_env(kf_state_dir, monkeypatch):
    """Kernels inherit the test's state folder; the repo root goes first on their path."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    monkeypatch.setenv("PYTHONPATH", root + os.pathsep + os.environ.get("PYTHONPATH", ""))


def test_kf_train_end_to_end(tmp_path, kf_state_dir):
    nb = run_notebook([
        "%load_ext jupyter_kf",
        SETUP,
        "%%kf_train --name fit-1 --workers 2 --cpu 1 --memory 1Gi --env SEED=3\n"
        "import os\nmodel = fit(X, y, epochs=5)\nscore = evaluate(model)\nseed = os.environ['SEED']\nscore",
        "print(model, score, seed)",
        "%kf_jobs",
        "%kf_logs fit-1 --tail 2",
        "%kf_results fit-1 --no-apply",
    ], tmp_path)
    train, printed, table, logs, results = nb.cells[2:]
    assert not errors(train), text(train)
    assert text(train).rstrip().endswith("2.0")  # the cell's last expression, as Out[]
    assert text(printed).strip() == "{'w': 2.0} 2.0 3"
    assert "fit-1" in text(table) and "Succeeded" in text(table) and "2w 1 1Gi" in text(table)
    assert text(logs).splitlines() == ["[1] epoch=3 loss=0.250", "[1] epoch=4 loss=0.200"]
    assert "'score': 2.0" in text(results)
    html = " ".join(str(s["state"].get("value", "")) for s in widget_states(nb).values())
    assert 'data-phase="Succeeded"' in html and "fit-1 succeeded" in html
    assert "<polyline" in html and "loss = <b>0.2</b>" in html  # the live metrics chart
    assert "[0] epoch=4 loss=0.200" in html  # logs under the cell, prefixed by rank
    assert "worker 1: Succeeded" in html


BAD_INPUT = {
    "%%kf_train --workers 0\nx = 1": "InvalidSpec: --workers '0' is too small: use an integer >= 1",
    "%%kf_train --workers -1\nx = 1": "InvalidSpec: --workers '-1' is too small: use an integer >= 1",
    "%%kf_train --workers abc\nx = 1": "InvalidSpec: --workers 'abc' is not a whole number: use an integer >= 1",
    "%%kf_train --memory 1GB\nx = 1": "InvalidSpec: memory '1GB' is not a Kubernetes quantity (Kubernetes writes gigabytes as 1Gi or 1G, not 1GB)",
    "%%kf_train --name Fit_1\nx = 1": "InvalidSpec: job name 'Fit_1' is invalid",
    "%%kf_train --bogus 1\nx = 1": "UsageError: unrecognized arguments: --bogus 1 (see %kf_train? for the accepted flags)",
    "%%kf_train --name e\n# nothing to run": "CaptureError: the cell is empty",
    "%%kf_train --name s\na = 1\nb = (": "CaptureError: syntax error in the cell, line 2",
    "%%kf_train --name u\nuses_lock()": "CaptureError: cannot send the cell's inputs to the job: input 'uses_lock': global 'lock' used by uses_lock()",
    "%%kf_train --name r\nimport threading\nkeep = 1\nlock2 = threading.Lock()": None,
}


def test_bad_input_is_one_line_and_starts_nothing(tmp_path, kf_state_dir):
    cells = list(BAD_INPUT)
    nb = run_notebook(["%load_ext jupyter_kf", "import threading\nlock = threading.Lock()\ndef uses_lock():\n    return lock",
                       *cells, "print(keep)"], tmp_path)
    for cell, expected in zip(nb.cells[2:], BAD_INPUT.values()):
        if expected is None:
            continue
        errs = errors(cell)
        shown = text(cell)
        assert expected in shown, (cell.source, shown)
        assert "Traceback" not in shown and len(shown.strip().splitlines()) == 1, shown
        assert len(errs) <= 1 and all(len(e.traceback) == 1 for e in errs)
    unpicklable_result = nb.cells[-2]
    assert "result 'lock2' could not come back" in text(unpicklable_result) and not errors(unpicklable_result)
    assert text(nb.cells[-1]).strip() == "1"
    assert sorted(p.name for p in (kf_state_dir / "jobs").iterdir()) == ["r"]


def test_failing_cell_keeps_partial_results(tmp_path):
    nb = run_notebook(["%load_ext jupyter_kf", "%%kf_train --name boom\np = 1\nq = p + 1\n1 / 0", "print(p, q)"], tmp_path)
    shown = text(nb.cells[1])
    assert "JobFailed: job boom failed at cell line 3: ZeroDivisionError: division by zero; partial results in the notebook: p, q" in shown
    assert 'File "<kf_train cell>", line 3' in shown
    assert text(nb.cells[2]).strip() == "1 2"


def test_restart_then_attach_brings_results_back(tmp_path, kf_state_dir):
    first = run_notebook(["%load_ext jupyter_kf", "data = [1, 2]",
                          "%%kf_train --name later --no-wait\nimport time\ntime.sleep(1)\ndata.append(3)\ntotal = sum(data)"], tmp_path)
    assert "job later submitted" in text(first.cells[2])
    # a new kernel: nothing in memory, the job is found on disk
    second = run_notebook(["%load_ext jupyter_kf", "%kf_jobs", "%kf_attach later", "print(total, data)"], tmp_path)
    assert "later" in text(second.cells[1])
    assert not errors(second.cells[2]), text(second.cells[2])
    assert text(second.cells[3]).strip() == "6 [1, 2, 3]"


def test_cancel_button_stops_a_job_from_an_idle_kernel(tmp_path, kf_state_dir):
    """``--no-wait`` keeps the view live from a thread; a click on its Cancel button reaches the kernel."""
    km, kc = start_new_kernel(kernel_name="python3", env=dict(os.environ), cwd=str(tmp_path))
    try:
        kc.execute_interactive("%load_ext jupyter_kf", timeout=30)
        buttons = []

        def collect(msg):
            if msg["msg_type"] == "comm_open" and msg["content"]["data"]["state"].get("_model_name") == "ButtonModel":
                buttons.append(msg["content"])

        reply = kc.execute_interactive("%%kf_train --name stuck --no-wait\nimport time\nprint('started', flush=True)\n"
                                       "time.sleep(120)", timeout=30, output_hook=collect)
        assert reply["content"]["status"] == "ok" and len(buttons) == 1
        assert {"jp-kf-cancel", "kf-job-stuck"} <= set(buttons[0]["data"]["state"]["_dom_classes"])
        status_file = kf_state_dir / "jobs" / "stuck" / "status.json"
        log = kf_state_dir / "jobs" / "stuck" / "logs" / "worker-0.log"
        deadline = time.monotonic() + 30
        while not (log.exists() and b"started" in log.read_bytes()):
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        kc.session.send(kc.shell_channel.socket, "comm_msg",
                        {"comm_id": buttons[0]["comm_id"], "data": {"method": "custom", "content": {"event": "click"}}})
        while json.loads(status_file.read_text())["phase"] != "Cancelled":
            assert time.monotonic() < deadline, f"not cancelled: {status_file.read_text()}"
            time.sleep(0.05)
        reply = kc.execute_interactive("%kf_jobs", timeout=30, output_hook=lambda m: None)
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_magics_on_a_cluster_across_a_kernel_restart(tmp_path, simulated_cluster):
    """%%kf_train --no-wait on the emulator; its simulating mode runs it; a new kernel attaches and gets the results."""
    from jupyter_kf.training.backends import kubernetes
    from tests.support.helpers import pod_exit_codes

    first = run_notebook(["%load_ext jupyter_kf", "data = [1, 2]",
                          "%%kf_train --name on-cluster --workers 2 --no-wait\ndata.append(3)\ntotal = sum(data)\nprint(f'loss={total}')"],
                         tmp_path)
    assert "job on-cluster submitted to the kubernetes backend" in text(first.cells[2])
    kubernetes.reset()
    assert pod_exit_codes(simulated_cluster, "on-cluster") == {0: 0, 1: 0}
    second = run_notebook(["%load_ext jupyter_kf", "%kf_jobs", "%kf_logs on-cluster", "%kf_attach on-cluster", "print(total, data)"],
                          tmp_path)
    row = next(line for line in text(second.cells[1]).splitlines() if line.startswith("on-cluster"))
    assert "Succeeded" in row and "2w" in row and "default" in row  # namespace in the WHERE column
    assert text(second.cells[2]).splitlines() == ["[0] loss=6", "[1] loss=6"]
    assert not errors(second.cells[3]), text(second.cells[3])
    assert text(second.cells[4]).strip() == "6 [1, 2, 3]"
    kubernetes.reset()


def test_cancel_of_a_no_wait_cluster_job_from_its_kernel_is_quiet(tmp_path, k8s_emulator, kubeconfig_path, monkeypatch):
    """The background follower ends on its own kernel's cancel with one line in its view, never a traceback."""
    import yaml

    from tests.support.helpers import STOCK_RUNTIME

    k8s_emulator.create_object(yaml.safe_load(STOCK_RUNTIME.read_text()))
    monkeypatch.setenv("JUPYTER_KF_BACKEND", "kubernetes")
    nb = run_notebook(["%load_ext jupyter_kf",
                       "%%kf_train --name quiet --no-wait\nimport time\ntime.sleep(600)",
                       "%kf_cancel quiet",
                       "import threading\nfor t in threading.enumerate():\n    if t.name == 'kf-follow-quiet':\n"
                       "        t.join(60)\nprint('followers:', [t.name for t in threading.enumerate() if t.name.startswith('kf-follow')])"],
                      tmp_path)
    assert "followers: []" in text(nb.cells[3])
    for cell in nb.cells:
        shown = text(cell) + "".join(str(o.get("data", "")) for o in cell.get("outputs", []))
        assert "Traceback" not in shown and "JobNotFound" not in shown and "deleted outside" not in shown, shown
