"""What a job ships: --include and --exclude reach the payload."""

import pytest

from jupyter_kf.errors import CaptureError
from jupyter_kf.training import api, payload
from jupyter_kf.training.capture import analyse


def test_capture_inputs_skips_excluded_names():
    ns = {"a": 1, "secret": "s3cr3t", "extra": [1]}
    captured = payload.capture_inputs(analyse("b = a + len(secret)"), ns, include=("extra",), exclude=("secret",))
    assert captured.values == {"a": 1, "extra": [1]}
    everything = payload.capture_inputs(analyse("b = a"), ns, exclude=("secret",), ship_all=True)
    assert "secret" not in everything.values and everything.values["extra"] == [1]


def test_excluded_name_never_reaches_the_job(tmp_path):
    ns = {"a": 2, "secret": "s3cr3t"}
    dry = api.train("b = a * 2\nprint(secret)", user_ns=ns, exclude=("secret",), dry_run=True)
    assert set(dry.captured.values) == {"a"}
    job = api.train("try:\n    seen = secret\nexcept NameError:\n    seen = None\nb = a * 2", user_ns=ns,
                    exclude=("secret",))
    status = job.wait(timeout=60)
    assert status.phase == "Succeeded"
    loaded, _ = job.apply(ns)
    assert ns["seen"] is None and ns["b"] == 4


def test_a_cell_reading_a_name_defined_nowhere_is_refused_before_anything_starts(kf_state_dir):
    with pytest.raises(CaptureError, match=r"the cell reads nowhere_x, defined neither in the notebook .* NameError"):
        api.train("y = nowhere_x + 1", name="undefined", user_ns={})
    assert not (kf_state_dir / "jobs" / "undefined").exists()
    # the analysis cannot see every name: the job runs (and may define it)
    assert api.train("from math import *\ny = tau", name="star", user_ns={}, wait=True).results()["y"] > 6


def test_include_of_a_name_defined_nowhere_is_refused():
    with pytest.raises(CaptureError, match=r"^--include ghost: no such variable in the notebook"):
        api.train("y = 1", name="ghost-include", user_ns={"x": 1}, include=("ghost",))
