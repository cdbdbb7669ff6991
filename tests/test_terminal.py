"""What a terminal makes of redrawn lines, and progress bars recognised in them (tqdm's real output)."""
import io

import pytest

from jupyter_kf.terminal import parse_progress, render_line, strip_ansi


@pytest.mark.parametrize("raw, shown", [
    ("plain", "plain"),
    ("\rprogress 1/5 [#    ]\rprogress 5/5 [#####]", "progress 5/5 [#####]"),
    ("abcdef\rxy", "xycdef"),  # overwritten, not erased (as Jupyter and terminals do)
    ("abcdef\rxy\x1b[K", "xy"),
    ("old text\x1b[2K\rnew", "new"),
    ("12/20 [=>]\x08\x08\x08\x08\x08\x08\x08\x08\x08\x0813/20 [==]", "13/20 [==]"),  # Keras' backspaces
    ("\x1b[1;31merror\x1b[0m: bad", "error: bad"),
    ("done\r", "done"),
    ("\x1b]0;title\x07text", "text"),
])
def test_render_line(raw, shown):
    assert render_line(raw) == shown


def test_strip_ansi():
    assert strip_ansi("\x1b[32mok\x1b[0m \x1b[?25lhidden cursor") == "ok hidden cursor"


def test_tqdm_output_is_one_line_and_a_progress_bar():
    tqdm = pytest.importorskip("tqdm")
    out = io.StringIO()
    for _ in tqdm.tqdm(range(40), file=out, desc="train", mininterval=0, miniters=1):
        pass
    first = out.getvalue().split("\n")[0]
    assert first.count("\r") >= 40
    shown = render_line(first)
    assert "\r" not in shown and shown.startswith("train: 100%|")
    found = parse_progress(shown)
    assert (found.n, found.total, found.percent, found.label) == (40, 40, 100.0, "train")
    middle = parse_progress(render_line(first[:first.index("\r", first.index(" 50%"))]))
    assert (middle.n, middle.percent) == (20, 50.0) and middle.remaining


def test_tqdm_units_and_ascii_bars():
    found = parse_progress(" 45%|####5     | 4.50k/10.0k [00:12<00:14, 380it/s]")
    assert (found.n, found.total, found.remaining, found.rate) == (4500, 10000, "00:14", "380it/s")
    assert found.text() == "45% · 4500/10000 · ETA 00:14 · 380it/s"


def test_keras_progress():
    found = parse_progress("Epoch 1: 3/10 [=====>........................] - ETA: 2s - loss: 0.5")
    assert (found.n, found.total, found.percent, found.remaining) == (3, 10, 30.0, "2s")
    done = parse_progress("10/10 [==============================] - 1s 5ms/step - loss: 0.5")
    assert done.percent == 100 and done.elapsed == "1s" and done.text() == "100% · 10/10 · 1s elapsed"
    assert parse_progress("32/32 ━━━━━━━━━━━━━━━━━━━━ 0s 5ms/step - loss: 0.2").percent == 100


@pytest.mark.parametrize("line", ["worker 0 of 2, SEED=3", "epoch=1 loss=0.5", "see a/b [docs]", "1/2 done", ""])
def test_other_lines_are_not_progress(line):
    assert parse_progress(line) is None
