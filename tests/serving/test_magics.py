"""%kf_deploy, %kf_predict, %kf_models, %kf_undeploy in an IPython shell, local backend, real HTTP
(jupyter_kf/serving/magics.py, widgets.py)."""
import subprocess
import sys

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.serving.backends.local import LocalServing
from jupyter_kf.serving.errors import ModelNotFound, PredictionError
from jupyter_kf.serving.magics import ServingMagics, _split_predict


@pytest.fixture
def shell():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    ip = InteractiveShell.instance()
    ip.register_magics(ServingMagics(shell=ip, parent=ip))
    X, y = load_iris(return_X_y=True)
    ip.user_ns.update(X_test=X, clf=LogisticRegression(max_iter=500).fit(X, y),
                      clf2=DecisionTreeClassifier(max_depth=1).fit(X, y))
    yield ip
    for status in LocalServing().list():
        LocalServing().delete(status.name)


def test_deploy_predict_models_canary_undeploy(shell, capsys):
    ns = shell.user_ns
    assert shell.run_line_magic("kf_deploy", "iris --model clf --format sklearn") is None
    out = capsys.readouterr().out
    assert "iris" in out
    pred = shell.run_line_magic("kf_predict", "iris X_test[:5]")
    np.testing.assert_array_equal(pred, ns["clf"].predict(ns["X_test"][:5]))
    pred = shell.run_line_magic("kf_predict", "iris --protocol v2 X_test[ :3 ]")
    np.testing.assert_array_equal(pred, ns["clf"].predict(ns["X_test"][:3]))
    shell.run_line_magic("kf_deploy", "iris --model clf2 --canary 10")
    table = shell.run_line_magic("kf_models", "")
    text = repr(table)
    assert text.splitlines()[0].split() == ["NAME", "READY", "URL", "TRAFFIC", "FORMAT", "WHERE", "WHY"]
    assert "iris" in text and "yes" in text and "90% v1 / 10% v2 (canary)" in text and "http://127.0.0.1:" in text
    html = table._repr_html_()
    assert "kf-models" in html and "Ready" in html and "90% v1 / 10% v2 (canary)" in html
    shell.run_line_magic("kf_deploy", "iris --promote")
    assert "canary promoted; traffic 100% v2" in capsys.readouterr().out
    shell.run_line_magic("kf_undeploy", "iris")
    assert "model iris undeployed" in capsys.readouterr().out
    assert "no models on the local backend yet" in repr(shell.run_line_magic("kf_models", ""))


def test_bad_input_is_one_line(shell):
    with pytest.raises(InvalidSpec, match=r"^--model 'nope': name 'nope' is not defined in the notebook"):
        shell.run_line_magic("kf_deploy", "iris --model nope")
    with pytest.raises(InvalidSpec, match="--format 'pickle' is unknown"):
        shell.run_line_magic("kf_deploy", "iris --model clf --format pickle")
    with pytest.raises(InvalidSpec, match="--model is required"):
        shell.run_line_magic("kf_deploy", "iris")
    with pytest.raises(ModelNotFound, match="no model named 'iris' on the local backend"):
        shell.run_line_magic("kf_undeploy", "iris")
    with pytest.raises(ModelNotFound):
        shell.run_line_magic("kf_predict", "iris X_test[:1]")
    shell.run_line_magic("kf_deploy", "iris --model clf")
    with pytest.raises(PredictionError, match=r"refused the request \(HTTP 400\): X has 2 features"):
        shell.run_line_magic("kf_predict", "iris X_test[:1, :2]")
    with pytest.raises(InvalidSpec, match="has no canary to promote"):
        shell.run_line_magic("kf_deploy", "iris --promote")


def test_predict_line_splitting():
    assert _split_predict("iris X[:5]") == ("iris", {}, "X[:5]")
    assert _split_predict("iris --protocol v2 --backend local df.iloc[:, 1:]") == (
        "iris", {"protocol": "v2", "backend": "local"}, "df.iloc[:, 1:]")
    with pytest.raises(InvalidSpec, match="unknown option --bogus"):
        _split_predict("iris --bogus 1 X")


def test_load_ext_registers_the_magics_without_heavy_imports():
    code = ("import sys\nfrom IPython.core.interactiveshell import InteractiveShell\nip = InteractiveShell.instance()\n"
            "ip.run_line_magic('load_ext', 'jupyter_kf')\n"
            "names = ip.magics_manager.magics['line']\n"
            "assert all(n in names for n in ('kf_deploy', 'kf_predict', 'kf_models', 'kf_undeploy')), 'magics'\n"
            "assert 'jupyter_kf.serving.api' not in sys.modules, 'api imported at load_ext'\n"
            "import jupyter_kf as kf\n"
            "assert callable(kf.deploy) and callable(kf.model) and callable(kf.models) and callable(kf.undeploy)\n"
            "heavy = [m for m in ('sklearn', 'joblib', 'torch', 'kubernetes', 'ipywidgets') if m in sys.modules]\n"
            "assert not heavy, heavy\nprint('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().endswith("ok"), out.stderr[-2000:]
