from jupyter_kf.display import JobTable, sparkline
from jupyter_kf.training.status import JobStatus, WorkerStatus
from jupyter_kf.training.widgets import JobView


def status(phase, workers=2, message=""):
    return JobStatus(name="fit-1", phase=phase, backend="local", started="2026-01-01T00:00:00Z",
                     finished="2026-01-01T00:00:07Z" if phase in ("Succeeded", "Failed") else None, message=message,
                     workers=[WorkerStatus(rank=r, phase=phase) for r in range(workers)], resources={"workers": workers, "gpus": 1})


def test_view_shows_phase_workers_logs_and_chart():
    view = JobView("fit-1", "local", workers=2, log_lines=3)
    assert 'data-phase="Pending"' in view.header_html.value
    view.update(status("Running"), [(0, "epoch=0 loss=1.0"), (1, "epoch=0 loss=1.1"), (0, "epoch=1 loss=0.5")], force=True)
    assert 'data-phase="Running"' in view.header_html.value
    assert "worker 1: Running" in view.workers_html.value
    assert "<polyline" in view.chart_html.value and "loss = <b>0.5</b>" in view.chart_html.value  # rank 0 only
    assert "[1] epoch=0 loss=1.1" in view.log_html.value
    view.update(status("Running"), [(0, f"line {i}") for i in range(5)], force=True)
    assert "line 0" not in view.log_html.value and "line 4" in view.log_html.value  # bounded
    assert view.cancel_button.layout.display == ""


def test_view_hides_cancel_when_done_and_escapes_html():
    view = JobView("fit-1", "local", workers=1)
    view.update(status("Failed", workers=1, message="<b>boom</b>"), [(0, "<script>x</script>")])
    assert "&lt;b&gt;boom" in view.header_html.value and "&lt;script&gt;" in view.log_html.value
    assert view.cancel_button.layout.display == "none"
    assert "7s" in view.header_html.value


def test_cancel_button_calls_back():
    clicks = []
    view = JobView("fit-1", "local", on_cancel=lambda: clicks.append(1))
    view.cancel_button.click()
    assert clicks == [1]
    assert {"jp-kf-cancel", "kf-job-fit-1"} <= set(view.cancel_button._dom_classes)


def test_widget_state_is_what_syncs():
    view = JobView("fit-1", "local")
    view.update(status("Succeeded", workers=1), [(0, "done")])
    state = view.header_html.get_state()
    assert state["_model_name"] == "HTMLModel" and 'data-phase="Succeeded"' in state["value"]


def test_sparkline_scales_points():
    svg = sparkline([(0, 1.0), (1, 3.0)], width=100, height=20)
    assert 'points="4.0,16.0 96.0,4.0"' in svg and ">3<" in svg and ">1<" in svg
    assert sparkline([]) == ""


def test_job_table_text_and_html():
    table = JobTable([status("Succeeded")], "local")
    text = repr(table)
    assert text.splitlines()[0].split() == ["NAME", "PHASE", "CREATED", "DURATION", "RESOURCES", "WHERE", "MESSAGE"]
    assert "fit-1" in text and "7s" in text and "2w 1gpu" in text
    assert 'data-phase="Succeeded"' in table._repr_html_()
    assert "no jobs on the local backend yet" in repr(JobTable([], "local"))
