"""The live readiness view and the models table (jupyter_kf/serving/widgets.py, display.py)."""
from jupyter_kf.serving.display import ModelTable
from jupyter_kf.serving.status import ModelStatus
from jupyter_kf.serving.widgets import ModelView


def test_view_shows_why_not_ready_then_the_url():
    view = ModelView("iris", "kubernetes")
    assert repr(view) == "iris Pending"
    view.update(ModelStatus(name="iris", backend="kubernetes", namespace="team-a", format="sklearn", traffic="100% v1",
                            reasons=["container kserve-container: image pull failed (ImagePullBackOff): <no such image>"]))
    assert 'data-phase="Pending"' in view.header.value and "team-a" in view.header.value
    assert "image pull failed (ImagePullBackOff): &lt;no such image&gt;" in view.details.value
    view.update(ModelStatus(name="iris", backend="kubernetes", phase="Ready", url="http://iris.team-a.example.com",
                            traffic="90% v1 / 10% v2 (canary)"))
    assert "http://iris.team-a.example.com" in view.details.value and "<ul" not in view.details.value
    assert repr(view) == "iris Ready at http://iris.team-a.example.com, traffic 90% v1 / 10% v2 (canary)"
    view.finish("iris is Ready")
    assert "iris is Ready" in view.note.value
    view.close()


def test_table_text_and_html():
    rows = [ModelStatus(name="iris", backend="local", phase="Ready", url="http://127.0.0.1:1", traffic="100% v1",
                        format="sklearn"),
            ModelStatus(name="llm", backend="kubernetes", phase="Failed", namespace="team-a", format="huggingface",
                        reasons=["container kserve-container: out of memory (OOMKilled): give it more with --memory"])]
    text = repr(ModelTable(rows, "kubernetes"))
    assert text.splitlines()[1].split()[:4] == ["iris", "yes", "http://127.0.0.1:1", "100%"]
    assert "failed" in text.splitlines()[2] and "OOMKilled" in text
    html = ModelTable(rows, "kubernetes")._repr_html_()
    assert html.count("<tr>") == 3 and 'data-phase="Failed"' in html
    assert repr(ModelTable([], "local")).startswith("no models on the local backend yet")
