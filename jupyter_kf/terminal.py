"""What a terminal (and Jupyter's output area) makes of a program's output line, and progress bars in it.

Training code redraws one line with carriage returns (tqdm, Keras, ``print("\\r...", end="")``) and
colours it with ANSI escapes. Stored logs keep a line's last state; the views draw recognised progress
(tqdm's ``NN%|...| a/b [elapsed<remaining]``, Keras' ``a/b [====>...] - ETA: 3s``) as a bar.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

_CSI = re.compile(r"\x1b\[([0-9;?]*)([@-~])")
_OTHER_ESC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\^_]")
_TOKENS = re.compile(r"(\x1b\[[0-9;?]*[@-~]|\r|\x08)")


def strip_ansi(text: str) -> str:
    """Text without ANSI escape sequences (colours, cursor moves, titles)."""
    return _CSI.sub("", _OTHER_ESC.sub("", text))


def render_line(raw: str) -> str:
    """The last state of one output line (no ``\\n`` in it), as a terminal shows it.

    ``\\r`` returns to the line's start and later text overwrites earlier text; ``\\b`` steps back;
    ``ESC[K``/``ESC[2K`` erase; colours and other escapes are dropped.
    """
    if "\r" not in raw and "\x1b" not in raw and "\x08" not in raw:
        return raw
    raw = _OTHER_ESC.sub("", raw)
    cells: list[str] = []
    col = 0
    for token in _TOKENS.split(raw):
        if not token:
            continue
        if token == "\r":
            col = 0
        elif token == "\x08":
            col = max(0, col - 1)
        elif token.startswith("\x1b["):
            code = token[-1]
            if code == "K":
                arg = token[2:-1] or "0"
                if arg == "2":
                    cells = []
                elif arg == "1":
                    cells[:col] = [" "] * min(col, len(cells))
                else:
                    del cells[col:]
            elif code == "G":  # cursor to column n (1-based)
                col = max(0, int(token[2:-1] or "1") - 1)
        else:
            if col > len(cells):
                cells.extend(" " * (col - len(cells)))
            cells[col:col + len(token)] = token
            col += len(token)
    return "".join(cells).rstrip()


@dataclass
class Progress:
    """One progress bar's state as a line showed it."""

    n: float
    total: float
    percent: float
    elapsed: str = ""
    remaining: str = ""
    rate: str = ""
    label: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        """``45% · 450/1000 · 0:12 left`` (a bar's words)."""
        parts = [f"{self.percent:.0f}%", f"{_num(self.n)}/{_num(self.total)}"]
        if self.remaining and self.remaining != "?" and self.percent < 100:
            parts.append(f"ETA {self.remaining}")
        elif self.elapsed:
            parts.append(f"{self.elapsed} elapsed")
        if self.rate:
            parts.append(self.rate)
        return " · ".join(parts)


def _num(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:g}"


_UNIT = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}
_TQDM = re.compile(
    r"^(?P<label>.*?):?\s*(?P<pct>\d{1,3})%\|[^|]*\|\s*(?P<n>[\d.]+)(?P<nu>[kKMG]?)/(?P<total>[\d.]+)(?P<tu>[kKMG]?)"
    r"\s*\[(?P<elapsed>[\d:]+)<(?P<remaining>[\d:?]+)(?:,\s*(?P<rate>[^\]]*))?\]")
_KERAS = re.compile(
    r"^(?P<label>.*?)\s*(?P<n>\d+)/(?P<total>\d+)\s*(?:\[(?P<bar>[=>.#\- ]*)\]|(?P<bar3>[━─]+))"
    r"(?:\s*-?\s*(?:ETA:\s*(?P<eta>[\d:]+s?)|(?P<took>\d+(?:\.\d+)?m?s)(?:\s+\d+m?s/step)?))?")


def parse_progress(line: str) -> Progress | None:
    """A recognised progress bar in a (rendered) line, or None."""
    if "/" not in line:
        return None
    m = _TQDM.search(line)
    if m:
        n = float(m["n"]) * _UNIT[m["nu"]]
        total = float(m["total"]) * _UNIT[m["tu"]]
        return Progress(n=n, total=total, percent=float(m["pct"]), elapsed=m["elapsed"],
                        remaining=m["remaining"], rate=(m["rate"] or "").strip(), label=m["label"].strip())
    m = _KERAS.search(line)
    if m and int(m["total"]) > 0:
        n, total = int(m["n"]), int(m["total"])
        return Progress(n=n, total=total, percent=min(100.0, 100.0 * n / total), remaining=m["eta"] or "",
                        elapsed=m["took"] or "", label=m["label"].strip())
    return None
