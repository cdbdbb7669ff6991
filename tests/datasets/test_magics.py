"""%kf_data and %%kf_train --data in real kernels, driven by nbclient as a notebook would run them."""
import json
import os

import pytest

from tests.support.notebook_runs import errors, run_notebook, text


@pytest.fixture(autouse=True)
def kernel_env(kf_state_dir, monkeypatch):
    """Kernels inherit the test's state folder; the repo root goes first on their path."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    monkeypatch.setenv("PYTHONPATH", root + os.pathsep + os.environ.get("PYTHONPATH", ""))


MAKE = """from pathlib import Path
Path('data/mnist/train').mkdir(parents=True)
Path('data/mnist/labels.csv').write_text('a,b\\n1,2\\n')
Path('data/mnist/train/x.txt').write_text('x' * 1000)"""


def test_versions_a_job_reads_and_writes(tmp_path, kf_state_dir):
    nb = run_notebook([
        "%load_ext jupyter_kf",
        MAKE,
        "%kf_data put mnist ./data/mnist/",
        "%kf_data put mnist ./data/mnist/",
        "Path('data/mnist/labels.csv').write_text('a,b\\n1,3\\n')\n%kf_data put mnist data/mnist",
        "import numpy as np\narr = np.arange(6)\n%kf_data put arr arr",
        "%%kf_train --name fit-1 --data mnist@1:data --data arr:inputs/arr\n"
        "import os, numpy as np\nimport jupyter_kf as kf\ntext = open('data/labels.csv').read()\n"
        "total = int(np.load('inputs/arr/data.npy').sum())\nlinked = os.path.islink('data/labels.csv')\n"
        "kf.data.put('scores', {'total': total})",
        "print(repr(text), total, linked)",
        "%kf_data list",
        "%kf_data show mnist",
        "%kf_data show scores",
        "%kf_data delete mnist@1",
        "%kf_delete fit-1\n%kf_data delete mnist@1",
        "%kf_data get mnist@2 ./here\nprint(open('here/labels.csv').read())",
        "import jupyter_kf as kf\nkf.data.load('scores')",
    ], tmp_path)
    outs = [text(cell) for cell in nb.cells]
    for cell in nb.cells[:11] + nb.cells[12:]:
        assert not errors(cell), (cell.source, text(cell))
    assert outs[2].startswith("mnist@1: 2 file(s), 1008 B") and "2 new object(s) stored" in outs[2]
    assert outs[3].startswith("unchanged: still version 1 of mnist")
    assert outs[4].startswith("mnist@2: 2 file(s)") and "1 new object(s) stored" in outs[4]
    assert outs[5].startswith("arr@1: ndarray as .npy")
    assert "fit-1 succeeded" in json.dumps(nb.metadata.get("widgets", {}))
    assert outs[7].strip() == "'a,b\\n1,2\\n' 15 True"  # version 1, as asked, seen through links
    table = outs[8].splitlines()
    assert table[0].split() == ["NAME", "VERSIONS", "LATEST", "SIZE", "FILES", "CREATED", "WHERE"]
    assert [row.split()[:3] for row in table[1:]] == [["arr", "1", "arr@1"], ["mnist", "2", "mnist@2"],
                                                      ["scores", "1", "scores@1"]]
    assert "mnist@1 -> read by job fit-1 at data" in outs[9] and "mnist@2 ->" not in outs[9]
    assert "scores@1 <- written by job fit-1" in outs[10] and "job fit-1" in outs[10].split("WRITTEN BY")[1]
    assert "DatasetInUse: mnist@1 is read by job fit-1, which is still there" in outs[11]
    assert len(outs[11].strip().splitlines()) == 1 and "Traceback" not in outs[11]
    assert "deleted mnist@1; 1 stored object(s) freed" in outs[12]
    assert "mnist@2 copied into here" in outs[13] and "a,b\n1,3" in outs[13]
    assert outs[14].strip() == "{'total': 15}"
    record = json.loads((kf_state_dir / "datasets" / "sets" / "mnist" / "readers" / "fit-1.json").read_text())
    assert record["versions"] == [1]


BAD = {
    "%kf_data put Bad data/mnist": "InvalidSpec: dataset name 'Bad' is invalid",
    "%kf_data put clean ./missing": "CannotStore: kf.data.put: './missing' does not exist",
    "%kf_data show nope": "DatasetNotFound: no dataset named 'nope' on the local store",
    "%kf_data show mnist@7": "DatasetNotFound: dataset 'mnist' has no version 7: its versions are 1",
    "%kf_data frob": "InvalidSpec: %kf_data 'frob' is not a command: use one of put, list, show, get, load, delete",
    "%kf_data put mnist": "InvalidSpec: %kf_data put takes NAME PATH_OR_VARIABLE, e.g. %kf_data put mnist ./data/",
    "%kf_volume list": "InvalidSpec: volumes are PersistentVolumeClaims on a cluster: the local backend has none",
    "%kf_volume frob": "InvalidSpec: %kf_volume 'frob' is not a command: use create, list or delete",
    "%kf_volume create --backend kubernetes": "InvalidSpec: %kf_volume create needs a NAME",
    "%%kf_train --name a --data nope:data\nx = 1": "DatasetNotFound: no dataset named 'nope'",
    "%%kf_train --name b --data mnist:../up\nx = 1": "mount point '../up' is outside the job's working folder",
    "%%kf_train --name c --data mnist:/mnt/x\nx = 1": "an absolute mount point needs a cluster",
    "%%kf_train --name d --data mnist\nx = 1": "InvalidSpec: --data 'mnist' is malformed: use NAME[@VERSION]:MOUNT",
}


def test_bad_input_is_one_line_and_starts_nothing(tmp_path, kf_state_dir):
    nb = run_notebook(["%load_ext jupyter_kf", MAKE, "%kf_data put mnist data/mnist", *BAD], tmp_path)
    for cell, expected in zip(nb.cells[3:], BAD.values()):
        shown = text(cell)
        assert expected in shown, (cell.source, shown)
        assert "Traceback" not in shown and len(shown.strip().splitlines()) == 1, shown
    assert not (kf_state_dir / "jobs").exists() or not any((kf_state_dir / "jobs").iterdir())
    assert sorted(p.name for p in (kf_state_dir / "datasets" / "sets").iterdir()) == ["mnist"]
