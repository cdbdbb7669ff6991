"""A bar under the cell while ``%kf_data put`` or ``get`` moves data (only for transfers that take a while)."""
from __future__ import annotations

import threading
import time

from jupyter_kf.display import format_size, progress_bar


class TransferBar:
    """``progress(done_bytes, total_bytes)`` for ``kf.data.put``/``get``: shown after half a second, redrawn
    at most five times a second (workers call it from their threads)."""

    def __init__(self, label: str, delay: float = 0.5):
        self.label, self.delay = label, delay
        self.started, self.last = time.monotonic(), float("-inf")
        self.handle = None
        self.lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        finished = done >= total
        with self.lock:
            if now - self.started < self.delay or (not finished and now - self.last < 0.2):
                return
            self.last = now
            from IPython.display import HTML, display

            rate = done / max(now - self.started, 1e-6)
            text = f"{format_size(done)} / {format_size(total)} · {format_size(rate)}/s"
            bar = HTML(progress_bar(self.label, 100.0 * done / total if total else 100.0, text))
            if self.handle is None:
                self.handle = display(bar, display_id=True)
            else:
                self.handle.update(bar)
