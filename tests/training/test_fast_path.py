"""What makes a local job cheap keeps its semantics: lean imports, memory-mapped frames, waking on a pipe."""
import json
import math
import threading

import numpy as np
import pytest

from jupyter_kf.training import api, runner
from jupyter_kf.training.backends import local_supervisor
from tests.support.helpers import run_cell

SAMPLES = [
    {"phase": "Running", "workers": [{"rank": 0, "pid": None, "exit_code": -9, "reason": "é ☃ \"q\" \\ \n"}]},
    [1, 2.5, -0.0, 1e300, True, False, None, "", {"nested": {"": []}}],
    {"big": 2**70, "float": 0.1 + 0.2, "unicode": "\u2028\ud7ff"},
]


@pytest.mark.parametrize("module", [runner, local_supervisor])
def test_the_lean_json_reads_and_writes_as_json_does(module):
    for sample in SAMPLES:
        assert module.json_dumps(sample) == json.dumps(sample)
        assert module.json_dumps(sample, compact=True) == json.dumps(sample, separators=(",", ":"))
        assert module.json_loads(json.dumps(sample)) == sample
        assert module.json_loads(json.dumps(sample).encode().ljust(4096)) == sample  # status.json is padded
    assert math.isnan(module.json_loads("[NaN]")[0]) and module.json_loads(" [1]") == [1]
    with pytest.raises(ValueError):
        module.json_loads('{"a": 1} trailing')
    with pytest.raises(TypeError):
        module.json_dumps({"a": object()})


def test_a_job_of_plain_values_never_imports_cloudpickle_and_one_with_a_function_does():
    ns = {"a": [1, 2], "X": np.arange(3.0)}
    cell = "import sys\nseen = [m for m in ('cloudpickle', 'linecache', 're') if m in sys.modules]\nb = [a]"
    _, status, _ = run_cell(cell, ns)  # X is not read, so not shipped: no numpy, which would import re
    assert status.phase == "Succeeded" and ns["seen"] == [] and ns["b"][0] is ns["a"]
    _, status, _ = run_cell("import sys\nseen = 'cloudpickle' in sys.modules\nb = [a, X.sum()]", ns)
    assert status.phase == "Succeeded" and ns["seen"] is False and ns["b"][0] is ns["a"]
    _, status, _ = run_cell("import sys\ndef f(v):\n    return v + 1\nb = f(1)", ns)
    assert status.phase == "Succeeded" and ns["f"](2) == 3 and ns["b"] == 2


def test_plain_is_only_data_that_pickle_writes_as_cloudpickle_does():
    assert runner._plain({"a": [1, (2.0, b"x")], "s": {1}, "X": np.zeros(2)})
    assert not runner._plain([lambda: 1]) and not runner._plain({"o": np.zeros(2, dtype=object)})
    assert not runner._plain(list(range(20_000)))  # past the budget: cloudpickle, which is always right


def test_arrays_read_from_a_memory_map_are_private_and_their_writes_are_seen(tmp_path):
    X = np.arange(300_000, dtype=np.float64)
    path = str(tmp_path / "frames.bin")
    runner.write_frames(path, {"X": X})
    maps = []
    Y = runner.read_frames(path, maps=maps)["X"]
    before = runner.fingerprint(Y, maps)
    assert float(Y.sum()) == float(X.sum()) and runner.fingerprint(Y, maps) == before  # read: not written
    Y[-1] = -1.0
    assert runner.fingerprint(Y, maps) != before
    assert runner.read_frames(path)["X"][-1] == X[-1]  # the file is untouched: the map is copy-on-write


def test_inputs_only_read_do_not_come_back_and_mutated_ones_do():
    X, Z = np.arange(200_000.0), np.ones(200_000)
    ns = {"X": X, "Z": Z}
    _, status, loaded = run_cell("s = float(X.sum())\nZ[7] = 5", ns)
    assert status.phase == "Succeeded" and sorted(loaded.mutated) == ["Z"]
    assert ns["Z"] is Z and Z[7] == 5 and ns["s"] == float(X.sum())


def test_waiting_wakes_on_the_supervisors_pipe(tmp_path):
    """Each pause may last long (600 s): only the pipe's bytes and its end let this test finish in time."""
    release = tmp_path / "go"
    job = api.train(f"import os, time\nwhile not os.path.exists({str(release)!r}): time.sleep(0.01)", name="piped",
                    user_ns={})
    assert "piped" in job.backend._wakes
    threading.Timer(0.2, release.touch).start()
    while not job.status().done:
        job.backend.pause("piped", 600)
    assert job.status().phase == "Succeeded"
    while "piped" in job.backend._wakes:  # the bytes left, then the pipe's end as the supervisor exits
        job.backend.pause("piped", 600)


def test_wake_pipes_are_closed_past_the_cap_and_with_their_backend():
    import gc
    import os

    from jupyter_kf.training.backends import local

    backend = local.LocalBackend()
    pipes = [os.pipe() for _ in range(local.MAX_WAKES + 1)]
    for i, (read, _) in enumerate(pipes):
        backend._keep_wake(f"j{i}", read)
    with pytest.raises(OSError):
        os.fstat(pipes[0][0])  # the oldest, closed past the cap
    os.fstat(pipes[-1][0])
    again = os.pipe()
    backend._keep_wake("j1", again[0])  # a job of that name replaced: the old pipe is let go
    with pytest.raises(OSError):
        os.fstat(pipes[1][0])
    pipes.append(again)
    del backend
    gc.collect()
    with pytest.raises(OSError):
        os.fstat(pipes[-1][0])
    for _, write in pipes:
        os.close(write)


def test_the_cells_source_reaches_linecache_when_something_imports_it():
    ns = {}
    cell = "def f():\n    return 1\nimport inspect\nsrc = inspect.getsource(f)\nraise ValueError('boom')"
    _, status, loaded = run_cell(cell, ns)
    assert status.phase == "Failed" and ns["src"] == "def f():\n    return 1\n"
    assert "raise ValueError('boom')" in loaded.error["traceback"] and loaded.error["line"] == 5


def test_the_runners_compiled_code_is_kept_private_and_only_a_private_one_is_used(kf_state_dir, tmp_path):
    import marshal
    import os

    run_cell("b = 1", {})
    caches = list(kf_state_dir.glob("jobs.runner-*.code"))
    assert len(caches) == 1 and oct(caches[0].stat().st_mode & 0o777) == "0o600"
    supervisors = list(kf_state_dir.glob("jobs.local_supervisor-*.code"))  # the supervisor's, likewise
    assert len(supervisors) == 1 and oct(supervisors[0].stat().st_mode & 0o777) == "0o600"
    marker = tmp_path / "ran"
    planted = compile(f"open({str(marker)!r}, 'w').close()\nraise SystemExit(0)", "planted", "exec")
    caches[0].write_bytes(marshal.dumps(planted))
    os.chmod(caches[0], 0o666)  # others may write it: never loaded
    _, status, _ = run_cell("b = 2", ns := {})
    assert status.phase == "Succeeded" and ns["b"] == 2 and not marker.exists()
    os.chmod(caches[0], 0o600)
    caches[0].write_bytes(marshal.dumps(planted))  # ours alone: used, as a .pyc would be
    job = api.train("b = 3", name="from-cache", user_ns={})
    job.wait(timeout=60)
    assert marker.exists()
