from jupyter_kf.training.metrics import MetricSeries, parse_metrics


def test_name_value_pairs_are_metrics():
    assert parse_metrics("epoch=2 loss=0.31 acc=9.5e-1") == {"epoch": 2.0, "loss": 0.31, "acc": 0.95}
    assert parse_metrics("train/loss=-1.5, lr=.001") == {"train/loss": -1.5, "lr": 0.001}


def test_other_text_is_not():
    assert parse_metrics("saved to model=best.pt") == {}
    assert parse_metrics("url=http://x?a=1") == {}
    assert parse_metrics("nothing here") == {}


def test_series_use_the_step_key_or_the_line_count():
    series = MetricSeries()
    for line in ["epoch=0 loss=1.0", "noise", "epoch=1 loss=0.5"]:
        series.add_line(line)
    assert series.series == {"loss": [(0.0, 1.0), (1.0, 0.5)]}
    plain = MetricSeries()
    plain.add_line("loss=3")
    plain.add_line("loss=2")
    assert plain.series == {"loss": [(1.0, 3.0), (2.0, 2.0)]}


def test_series_per_worker_and_the_printed_step():
    series = MetricSeries()
    for rank, line in [(0, "iter=1 loss=2"), (1, "iter=1 loss=3"), (0, "iter=2 loss=1"), (1, "SEED=4")]:
        series.add_line(line, rank)
    assert series.step_key == "iter"
    assert series.by_rank == {0: {"loss": [(1.0, 2.0), (2.0, 1.0)]}, 1: {"loss": [(1.0, 3.0)], "SEED": [(2.0, 4.0)]}}
    assert series.series == series.by_rank[0] and series.names() == ["loss", "SEED"]


def test_a_metric_constant_on_every_worker_is_constant():
    series = MetricSeries()
    for rank, line in [(0, "SEED=3 lr=0.1"), (1, "SEED=4 lr=0.1"), (0, "SEED=3 lr=0.05")]:
        series.add_line(line, rank)
    assert series.constant("SEED") == {0: 3.0, 1: 4.0}
    assert series.constant("lr") is None and series.constant("missing") is None


def test_a_stepped_metric_with_one_point_is_a_series_that_has_begun():
    series = MetricSeries()
    series.add_line("worker 0 of 2, SEED=3")
    series.add_line("epoch=0 loss=1.0")
    assert series.constant("SEED") == {0: 3.0} and series.constant("loss") is None
    series.add_line("epoch=1 loss=1.0")
    assert series.constant("loss") == {0: 1.0}  # printed twice, never changed
