"""%%kf_tune and the experiment magics in real kernels, driven by nbclient as a notebook would run them."""
import os

import pytest

from tests.support.notebook_runs import errors, run_notebook, text, widget_states

SETUP = """import numpy as np
X = np.linspace(0, 1, 50)
y = 3 * X
def fit(X, y, lr, layers):
    w = 3 + (lr - 0.02) * 100 + (layers - 2) * 0.3   # the one best: lr=0.02, layers=2
    for epoch in range(3):
        print(f"epoch={epoch} loss={float(np.mean((w * X - y) ** 2)) + 0.1 / (epoch + 1):.6f}")
    return w"""


@pytest.fixture(autouse=True)
def kernel_env(kf_state_dir, monkeypatch):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    monkeypatch.setenv("PYTHONPATH", root + os.pathsep + os.environ.get("PYTHONPATH", ""))


def test_kf_tune_finds_the_minimum_and_brings_the_best_trial_back(tmp_path):
    nb = run_notebook([
        "%load_ext jupyter_kf",
        SETUP,
        "%%kf_tune --name lr-search --param lr=uniform(0.01,0.03,0.005) --param layers=int(1,3) "
        "--param opt=choice(adam,sgd) --objective loss --goal minimize --trials 30 --parallel 4 --algorithm grid "
        "--env SCALE=1\nmodel = fit(X, y, lr=lr, layers=layers)\nused = opt",
        "print(round(lr, 6), layers, opt, round(model, 6), used)",
        "%kf_experiments",
        "%kf_trials lr-search",
        "import jupyter_kf as kf\nb = kf.experiment('lr-search').best\nprint(round(b.params['lr'], 6), "
        "b.params['layers'], b.trial.startswith('lr-search-'))",
    ], tmp_path, timeout=180)
    tune, printed, table, trials, best = nb.cells[2:]
    assert not errors(tune), text(tune)
    assert "lr-search succeeded (30 trials run); best lr-search-" in text(tune)
    assert text(printed).split()[:2] == ["0.02", "2"] and text(printed).split()[3] == "3.0"
    assert "lr-search  Succeeded  30/30, 0 running  loss=0.033333" in text(table)
    assert len(text(trials).strip().splitlines()) == 31 and "Succeeded" in text(trials)
    assert text(best).split() == ["0.02", "2", "True"]
    html = " ".join(str(s["state"].get("value", "")) for s in widget_states(nb).values())
    assert "30/30, 0 running" in html and "kf-tune-chart" in html and "<polyline" in html
    assert "best: <b>loss=0.033333</b>" in html and "kf-tune-trials" in html


BAD = {
    "--param lr=loguniform(0.1) --objective loss": "InvalidSpec: --param 'lr=loguniform(0.1)': loguniform() takes",
    "--param lr=uniform(1,0) --objective loss": "min < max",
    "--param lr=normal(0,1) --objective loss": "unknown form 'normal'",
    "--param lr=uniform(0,1) --objective loss --algorithm annealing": "--algorithm 'annealing' is unknown",
    "--param lr=uniform(0,1) --objective loss --trials 2 --parallel 3": "--parallel 3 is more than --trials 2",
    f"--name {'e' * 41} --param lr=uniform(0,1) --objective loss": "at most 40 lowercase",
    "--param lr=uniform(0,1) --objective loss --algorithm grid": "--algorithm grid needs a finite space",
    "--param lr=uniform(0,1) --objective loss --goal max": "--goal 'max' is invalid: use minimize or maximize",
    "--param lr=uniform(0,1)": "%%kf_tune needs --objective NAME",
    "--param lr=uniform(0,1) --objective loss --workers 0": "--workers '0' is too small",
}


def test_bad_input_is_one_line_and_starts_nothing(tmp_path):
    cells = ["%load_ext jupyter_kf", *[f"%%kf_tune {line}\nprint(f'loss={{lr}}')" for line in BAD],
             "%kf_experiments", "%kf_jobs"]
    nb = run_notebook(cells, tmp_path)
    for cell, expected in zip(nb.cells[1:], BAD.values()):
        assert expected in text(cell) and len(text(cell).strip().splitlines()) == 1, text(cell)
        assert not cell.outputs[0].get("traceback", [""])[1:], "a traceback was shown"
    assert "no experiments" in text(nb.cells[-2]) and "fit" not in text(nb.cells[-1])


def test_unread_parameter_warns(tmp_path):
    nb = run_notebook(["%load_ext jupyter_kf", "%%kf_tune --param lr=uniform(0,1) --param wd=uniform(0,1) "
                       "--objective loss --trials 1 --parallel 1\nprint(f'loss={lr}')"], tmp_path)
    assert "warning: the code never reads parameter 'wd'" in text(nb.cells[1])


def test_resume_after_a_kernel_restart(tmp_path):
    gate = tmp_path / "gate"
    cell = (f"import os, time\nwhile not os.path.exists({str(gate)!r}) and time.time() < deadline:\n"
            "    time.sleep(0.01)\nprint(f'loss={(x - 3) ** 2}')")
    first = run_notebook([
        "%load_ext jupyter_kf",
        "import time\ndeadline = time.time() + 120",
        f"%%kf_tune --name resumed --param x=int(0,5) --objective loss --trials 6 --parallel 2 --algorithm grid "
        f"--no-wait\n{cell}",
        "import jupyter_kf as kf, time\nend = time.time() + 60\n"
        "while kf.experiment('resumed').status().count('Running') < 2 and time.time() < end:\n    time.sleep(0.02)\n"
        "print(kf.experiment('resumed').status().progress())",
    ], tmp_path)
    assert "0/6, 2 running" in text(first.cells[3]), text(first.cells[2]) + text(first.cells[3])
    gate.write_text("go")  # the first kernel is gone; its two trials go on and end now
    second = run_notebook([
        "%load_ext jupyter_kf",
        "import time\ndeadline = time.time() + 120",
        "%kf_attach resumed",  # no job has that name: the search's attach
        "print(x)",
        "%kf_trials resumed",
    ], tmp_path, timeout=180)
    attach, printed, trials = second.cells[2:]
    assert not errors(attach), text(attach)
    assert "resumed succeeded (6 trials run)" in text(attach) and text(printed).strip() == "3"
    assert text(trials).count("Succeeded") == 6


def test_cancel_and_delete_after_a_kernel_restart(tmp_path):
    first = run_notebook([
        "%load_ext jupyter_kf",
        "%%kf_tune --name orphan --param x=int(0,5) --objective loss --trials 6 --parallel 2 --no-wait\n"
        "import time\ntime.sleep(300)\nprint(f'loss={x}')",
        "import jupyter_kf as kf, time\nend = time.time() + 60\n"
        "while kf.experiment('orphan').status().count('Running') < 2 and time.time() < end:\n    time.sleep(0.02)\n"
        "print(kf.experiment('orphan').status().progress())",
    ], tmp_path)
    assert "0/6, 2 running" in text(first.cells[2])
    second = run_notebook([
        "%load_ext jupyter_kf",
        "%kf_cancel orphan",  # the job magics work for searches too
        "import jupyter_kf as kf\nprint(sorted({j.phase for j in kf.jobs()}))",
        "%kf_delete orphan",
        "%kf_experiments",
        "print(len(kf.jobs()))",
    ], tmp_path)
    cancel, phases, delete, listed, count = second.cells[1:]
    assert text(cancel).strip() == "experiment orphan: Cancelled (2/6, 0 running)"
    assert text(phases).strip() == "['Cancelled']"  # the trial jobs were stopped, not only marked
    assert text(delete).strip() == "experiment orphan deleted"
    assert "no experiments" in text(listed) and text(count).strip() == "0"


def test_the_job_magics_name_what_exists_when_neither_a_job_nor_a_search_has_the_name(tmp_path):
    nb = run_notebook(["%load_ext jupyter_kf", "%kf_attach nothing-here"], tmp_path)
    assert errors(nb.cells[1])[0]["ename"] == "JobNotFound"


def test_no_wait_then_attach_in_the_same_kernel(tmp_path):
    gate = tmp_path / "gate"
    nb = run_notebook([
        "%load_ext jupyter_kf",
        f"%%kf_tune --name later --param x=int(0,3) --objective loss --trials 4 --parallel 2 --algorithm grid "
        f"--no-wait\nimport os, time\nend = time.time() + 120\n"
        f"while not os.path.exists({str(gate)!r}) and time.time() < end:\n    time.sleep(0.01)\nprint(f'loss={{(x - 2) ** 2}}')",
        f"open({str(gate)!r}, 'w').close()",
        "%kf_experiment_attach later",
        "print(x)",
    ], tmp_path)
    started, _, attach, printed = nb.cells[1:]
    assert "experiment later started on the local backend" in text(started)
    assert not errors(attach) and "later succeeded (4 trials run)" in text(attach)
    assert text(printed).strip() == "2"
    html = " ".join(str(s["state"].get("value", "")) for s in widget_states(nb).values())
    assert "4/4, 0 running" in html
