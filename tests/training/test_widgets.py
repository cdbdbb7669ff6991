from jupyter_kf.display import line_chart, sparkline
from jupyter_kf.training.display import JobTable
from jupyter_kf.training.status import JobStatus, WorkerStatus, elapsed, format_duration
from jupyter_kf.training.widgets import JobView


def status(phase, workers=2, message=""):
    return JobStatus(name="fit-1", phase=phase, backend="local", started="2026-01-01T00:00:00Z",
                     finished="2026-01-01T00:00:07Z" if phase in ("Succeeded", "Failed") else None, message=message,
                     workers=[WorkerStatus(rank=r, phase=phase) for r in range(workers)],
                     resources={"workers": workers, "gpus": 1})


def test_view_shows_phase_workers_logs_and_chart():
    view = JobView("fit-1", "local", workers=2, log_lines=3)
    assert 'data-phase="Pending"' in view.header_html.value
    view.update(status("Running"), [(0, "epoch=0 loss=1.0"), (1, "epoch=0 loss=1.1"), (0, "epoch=1 loss=0.5")],
                force=True)
    assert 'data-phase="Running"' in view.header_html.value
    assert "worker 1: Running" in view.workers_html.value
    assert "loss = <b>0.5</b>" in view.chart_html.value  # rank 0's last value in the title
    assert view.chart_html.value.count("<polyline") == 2 and "worker 1" in view.chart_html.value  # a line a worker
    assert "[1] epoch=0 loss=1.1" in view.log_html.value
    view.update(status("Running"), [(0, f"line {i}") for i in range(5)], force=True)
    assert "line 0" not in view.log_html.value and "line 4" in view.log_html.value  # bounded
    assert view.cancel_button.layout.display == ""


def test_view_hides_cancel_when_done_and_escapes_html():
    view = JobView("fit-1", "local", workers=1)
    view.update(status("Failed", workers=1, message="<b>boom</b>"), [(0, "<script>x</script>")])
    assert "&lt;b&gt;boom" in view.header_html.value and "&lt;script&gt;" in view.log_html.value
    assert view.cancel_button.layout.display == "none"
    assert "7.0s" in view.header_html.value  # tenths below ten seconds


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
    assert "fit-1" in text and "7.0s" in text and "2w 1gpu" in text
    assert 'data-phase="Succeeded"' in table._repr_html_()
    assert "no jobs on the local backend yet" in repr(JobTable([], "local"))


def test_durations_show_tenths_below_ten_seconds():
    assert [format_duration(s) for s in (0.04, 0.96, 9.94, 10.2, 59.4, 61, 3725)] == \
        ["0.0s", "1.0s", "9.9s", "10s", "59s", "1m 01s", "1h 02m"]
    assert format_duration(None) == ""
    quick = JobStatus(name="q", phase="Succeeded", backend="local", started="2026-01-01T00:00:00.250Z",
                      finished="2026-01-01T00:00:01.450Z")
    assert abs(elapsed(quick) - 1.2) < 1e-6
    assert "1.2s" in repr(JobTable([quick], "local"))


def test_a_metric_that_never_changes_is_a_value_not_a_chart():
    view = JobView("fit-1", "local", workers=1)
    view.update(status("Running", workers=1),
                [(0, "worker 0 of 2, SEED=3")] + [(0, f"epoch={e} loss={1 / (e + 1)}") for e in range(4)], force=True)
    charts = view.chart_html.value
    assert "SEED = <b>3</b>" in charts and 'aria-label="SEED' not in charts
    assert charts.count("<svg") == 1 and 'aria-label="loss against epoch"' in charts
    assert ">epoch</text>" in charts  # the x axis is labelled with the step the job printed
    assert "<title>epoch 3: loss = 0.25</title>" in charts  # hover shows the value


def test_chart_keeps_values_in_the_gutter_clear_of_the_lines():
    svg = line_chart("loss", {0: [(0, 1.0), (1, 3.0)]}, "step", width=200, height=100)
    assert 'points="52.0,70.0 192.0,8.0"' in svg  # the plot starts right of the 52 px value gutter
    assert 'text-anchor="end" fill="#666">3<' in svg and ">step</text>" in svg


def test_progress_bars_per_worker_from_finished_and_unfinished_lines():
    view = JobView("fit-1", "local", workers=2)
    tqdm_line = "\r  0%|          | 0/10 [00:00<?, ?it/s]\r 40%|####      | 4/10 [00:02<00:03,  2.00it/s]"
    view.update(status("Running"), [(0, "starting")], pending=[(0, tqdm_line),
                                                                (1, "\r3/10 [======>.......] - ETA: 7s")], force=True)
    bars = view.progress_html.value
    assert bars.count('class="kf-progress"') == 2
    assert 'data-percent="40"' in bars and "40% · 4/10 · ETA 00:03" in bars
    assert 'data-percent="30"' in bars and "30% · 3/10 · ETA 7s" in bars
    assert "[0]  40%|####      | 4/10" in view.log_html.value and "0/10" not in view.log_html.value
    view.update(status("Running"), [(0, tqdm_line + "\r100%|##########| 10/10 [00:05<00:00,  2.00it/s]")], force=True)
    assert 'data-percent="100"' in view.progress_html.value
    assert view.log_html.value.count("10/10") == 1 and "4/10" not in view.log_html.value.split("[1]")[0]


def test_unfinished_lines_come_from_the_source_before_each_redraw():
    view = JobView("fit-1", "local", workers=1)
    view.pending_source = lambda: [(0, "\x1b[32mtrain: 50%|#####     | 5/10 [00:01<00:01, 5.0it/s]\x1b[0m")]
    view.update(status("Running", workers=1), [], force=True)
    assert "train" in view.progress_html.value and "50% · 5/10" in view.progress_html.value
    assert "\x1b" not in view.log_html.value and "[32m" not in view.log_html.value
