"""Every example notebook runs, top to bottom, on the local backend."""
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.notebook_runs import errors, text

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXPECTED = {
    "data.ipynb": ["points@1: 2 file(s), 5.6 KiB", "unchanged: still version 1 of points", "1 new object(s) stored",
                   "points@1 -> read by job fit-points at data", "weights@1 <- written by job fit-points",
                   "weights from the store: [ 3. -2.  1.]", "['test.csv', 'train.csv']",
                   "refused: points@1 is read by job fit-points", "deleted points@1; 1 stored object(s) freed",
                   "imagenet@1: pvc://datasets/imagenet/train, mounted as it is by cluster jobs",
                   "Succeeded {'max': 0.0}", "test-error@1 <- written by pipeline step evaluate/evaluate (job evaluate-"],
    "quickstart.ipynb": ["R^2 = 0.99", "fit-1  Succeeded", "epoch=7 loss=", "Succeeded {'w_short': array("],
    "distributed.ipynb": ["3 workers learned [ 2.  -1.   0.5  3. ]"],
    "pipeline.ipynb": ["test accuracy 0.925", "pipeline 'logistic-regression': 4 step(s) from markdown headings",
                       "[train] epoch=80 loss=", "[evaluate] test accuracy 0.925", "metrics: accuracy=0.925",
                       "Succeeded {'accuracy': 0.925}"],
    "notebook_servers.ipynb": ["notebook server scratch is ready: http://127.0.0.1:", "scratch  Ready",
                               "GET /api/status -> 200 | kernels running: 0",
                               "notebook server scratch stopped; its workspace is kept", "Stopped",
                               "notebook server scratch deleted", "no notebook servers on the local backend"],
    "tuning.ipynb": ["lr-search succeeded (16 trials run); best lr-search-", "the best trial learned [ 1.5 -2.   0.5]",
                     "best loss below 0.05: True", "quadratic minimum at {'a': 1.0, 'b': 2}",
                     "quadratic  Succeeded  65/65, 0 running  loss=0 (quadratic-", "experiment quadratic deleted"],
    "serving.ipynb": ["test accuracy 0.978", "iris is Ready at http://127.0.0.1:", "traffic 100% v1", "array([2, 1, 0, 2, 0])",
                      "V2 (Open Inference Protocol): [2 1 0 2 0]", "agrees with the notebook's model: True",
                      "80% v1 / 20% v2 (canary)", "iris: canary promoted; traffic 100% v2", "model iris undeployed",
                      "no models on the local backend yet"],
}


def test_every_example_is_covered():
    assert sorted(p.name for p in EXAMPLES.glob("*.ipynb")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name, tmp_path, monkeypatch):
    root = str(EXAMPLES.parent)
    monkeypatch.setenv("PYTHONPATH", root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work)
    nb = nbformat.read(work / name, as_version=4)
    NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    shown = "".join(text(cell) for cell in nb.cells if cell.cell_type == "code")
    assert not any(errors(cell) for cell in nb.cells if cell.cell_type == "code")
    for expected in EXPECTED[name]:
        assert expected in shown, (expected, shown[-2000:])
