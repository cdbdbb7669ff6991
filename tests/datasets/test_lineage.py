"""Lineage: the versions a job read, the version it wrote, and the model deployed from its results
(a real local job, a real local model server)."""
import pytest

import jupyter_kf as kf
from jupyter_kf.datasets.errors import DatasetInUse
from jupyter_kf.serving import api as serving

TRAIN = """import numpy as np
from sklearn.linear_model import LogisticRegression
X = np.loadtxt('data/X.csv', delimiter=',')
y = np.loadtxt('data/y.csv', delimiter=',')
clf = LogisticRegression(max_iter=200).fit(X, y)
kf.data.put('scores', {'train': float(clf.score(X, y))})
"""


@pytest.fixture
def digits(tmp_path):
    src = tmp_path / "digits"
    src.mkdir()
    (src / "X.csv").write_text("0,0\n0,1\n1,0\n1,1\n")
    (src / "y.csv").write_text("0\n0\n1\n1\n")
    kf.data.put("digits", src)
    (src / "y.csv").write_text("0\n1\n1\n1\n")
    kf.data.put("digits", src)
    yield src
    for status in serving.models(backend="local"):
        serving.undeploy(status.name, backend="local")


def test_a_model_deployed_from_a_jobs_results_is_traced_to_the_versions_it_read(digits):
    ns = {"kf": kf}
    job = kf.train(TRAIN, name="fit", data=["digits@1:data"], user_ns=ns)
    assert job.wait(timeout=60).phase == "Succeeded", list(job.logs())
    job.apply(ns)
    serving.deploy("digit-model", ns["clf"], what="clf", backend="local")
    shown = repr(kf.data.show("digits"))
    assert "digits@1 -> read by job fit at data" in shown
    assert "digits@1 -> trained model digit-model (through job fit)" in shown
    assert "digits@2 -> trained" not in shown
    assert "scores@1 <- written by job fit" in repr(kf.data.show("scores"))
    assert "scores@1 -> trained model digit-model (through job fit)" in repr(kf.data.show("scores"))
    kf.job("fit").delete()
    with pytest.raises(DatasetInUse, match="digits@1 trained model digit-model .through job fit.: add --force"):
        kf.data.delete("digits@1")
    assert kf.data.delete("digits@1", force=True).startswith("deleted digits@1")


def test_a_model_no_job_made_records_nothing_and_deploys(digits):
    from sklearn.dummy import DummyClassifier

    kf.train("x = 1", name="other", data=["digits@2:data"], user_ns={}).wait(timeout=60)
    clf = DummyClassifier().fit([[0], [1]], [0, 1])
    serving.deploy("plain", clf, what="clf", backend="local")  # no job bound a 'clf'
    assert "trained model" not in repr(kf.data.show("digits"))
    serving.deploy("named", clf, backend="local", trained_by="other")  # told which job trained it
    assert "digits@2 -> trained model named (through job other)" in repr(kf.data.show("digits"))
