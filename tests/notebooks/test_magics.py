"""%kf_notebook and the form widget, in an in-process IPython shell, against the emulator."""
import html

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.notebooks import NotebookNotFound
from jupyter_kf.notebooks.magics import load_ipython_extension
from jupyter_kf.notebooks.status import NotebookStatus, NotebookTable
from jupyter_kf.notebooks.widgets import NotebookForm, NotebookView
from tests.notebooks.test_kubernetes import NS, Controller, everything


@pytest.fixture
def ip(cluster):
    shell = InteractiveShell.instance()
    load_ipython_extension(shell)
    yield shell


def test_the_issue_commands(ip, cluster, capsys):
    ctl = Controller(cluster)
    ip.run_line_magic("kf_notebook", "create big-gpu --gpus 1 --cpu 8 --memory 32Gi --image quay.io/jupyter/pytorch-notebook:cuda12-2025-03-14 "
                      "--workspace 50Gi --data-volume datasets:/data --no-wait")
    out = capsys.readouterr().out
    assert "notebook server big-gpu: Starting (waiting for its pod to be created)" in out
    ctl.make_pod("big-gpu")
    ctl.ready("big-gpu")
    table = ip.run_line_magic("kf_notebook", "list")
    assert isinstance(table, NotebookTable) and table[0].phase == "Ready"
    assert ip.run_line_magic("kf_notebook", "status big-gpu").phase == "Ready"
    assert ip.run_line_magic("kf_notebook", "url big-gpu") == "http://127.0.0.1:8888/notebook/default/big-gpu/"
    ip.run_line_magic("kf_notebook", "stop big-gpu")
    assert "notebook server big-gpu stopped; its workspace is kept" in capsys.readouterr().out
    ctl.scale_down("big-gpu")
    ctl.later(lambda: (ctl.make_pod("big-gpu"), ctl.ready("big-gpu")))
    ip.run_line_magic("kf_notebook", "start big-gpu --timeout 20")
    assert "notebook server big-gpu is ready: http://127.0.0.1:8888/notebook/default/big-gpu/" in capsys.readouterr().out
    ip.run_line_magic("kf_notebook", "delete big-gpu --keep-workspace")
    assert "its workspace big-gpu-workspace is kept" in capsys.readouterr().out
    assert everything(cluster)["persistentvolumeclaims"] == ["big-gpu-workspace", "datasets"]


def test_bad_input_is_one_line(ip):
    for line, words in (("stop nb --gpus 1", "--gpus goes with %kf_notebook create only"),
                        ("stop", "%kf_notebook stop needs a server name"),
                        ("launch nb", "'launch' is not an action"),
                        ("delete nb --keep-workspace -y", "contradict")):
        with pytest.raises(UsageError) as err:
            ip.run_line_magic("kf_notebook", line)
        assert words in str(err.value)
    with pytest.raises(InvalidSpec) as err:
        ip.run_line_magic("kf_notebook", "create nb --memory 32GB")
    assert "not 1GB" in str(err.value)
    with pytest.raises(NotebookNotFound):
        ip.run_line_magic("kf_notebook", "delete ghost -y")


def test_the_form_launches_and_shows_a_live_view(ip, cluster):
    form = ip.run_line_magic("kf_notebook", "")
    assert isinstance(form, NotebookForm)
    form.name.value, form.memory.value = "from-form", "lots"
    assert form.launch() is None
    assert "--memory 'lots' is not a Kubernetes quantity" in html.unescape(form.error_html.value) and not form.views.children
    form.memory.value, form.gpus.value, form.data_volumes.value = "2Gi", 1, "datasets:/data"
    form.timeout = "1"
    status = form.launch()
    assert status.name == "from-form" and form.error_html.value == ""
    cluster.mark_unschedulable(NS, Controller(cluster).make_pod("from-form")["metadata"]["name"])
    form.thread.join(15)
    view = form.views.children[0]
    assert isinstance(view, NotebookView) and view.server_status.phase == "Waiting"
    assert "no free GPU" in view.header_html.value and "is not ready after 1s" in view.note_html.value
    notebook = cluster.get_object("kubeflow.org", "v1", "notebooks", NS, "from-form")
    assert notebook["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_the_view_shows_why_it_waits_and_the_link_when_ready():
    view = NotebookView("nb")
    view.update(NotebookStatus(name="nb", phase="Waiting", backend="kubernetes", kind="Notebook", namespace="team-a",
                               message="no free GPU: 0/3 nodes are available", details=["event FailedScheduling: 0/3 nodes"]))
    assert "Waiting" in view.header_html.value and "no free GPU" in view.header_html.value
    assert "FailedScheduling" in view.details_html.value
    view.update(NotebookStatus(name="nb", phase="Ready", backend="local", url="http://127.0.0.1:9999/lab?token=t"))
    assert "href='http://127.0.0.1:9999/lab?token=t'" in view.header_html.value and view.details_html.value == ""


def test_load_ext_registers_the_magic_and_kf_notebooks_is_the_api():
    import jupyter_kf as kf

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_kf")
    assert "kf_notebook" in shell.magics_manager.magics["line"]
    assert kf.notebooks.create is __import__("jupyter_kf.notebooks").notebooks.create
