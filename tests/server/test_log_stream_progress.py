"""The log stream's redrawn lines: ``pending`` events while a progress bar is redrawn, one last-state line after."""
from __future__ import annotations

import pytest

from jupyter_kf.training import api
from tests.server.test_server import sse
from tests.support.helpers import server_config


@pytest.fixture
def jp_server_config():
    return server_config()


async def test_redrawn_line_is_pending_while_drawn_then_one_line(jp_fetch, tmp_path):
    gate = tmp_path / "go"
    api.train("import os, time\nfor i in range(1, 4):\n    print(f'\\rstep {i}/6 [' + '#' * i + ']', end='', flush=True)\n"
              f"while not os.path.exists({str(gate)!r}):\n    time.sleep(0.02)\n"
              "for i in range(4, 7):\n    print(f'\\rstep {i}/6 [' + '#' * i + ']', end='', flush=True)\n"
              "print('\\n\\x1b[1mend\\x1b[0m')", name="rest-bars")
    chunks: list[bytes] = []
    await jp_fetch("jupyter-kf", "api", "jobs", "rest-bars", "logs", request_timeout=60,
                   streaming_callback=lambda chunk: _release(chunks, chunk, gate))
    events = sse(b"".join(chunks))
    pending = [data for kind, data in events if kind == "pending"]
    assert [[0, "step 3/6 [###]"]] in pending  # the bar while the job waited, in its last state
    assert pending[-1] == []  # cleared once the job ended
    lines = [line for kind, data in events if kind == "lines" for line in data]
    assert lines == ["step 6/6 [######]", "end"]


def _release(chunks: list, chunk: bytes, gate) -> None:
    """Keep the chunk; let the job go on once the stream has shown its bar at 3/6."""
    chunks.append(chunk)
    if b"step 3/6" in chunk and not gate.exists():
        gate.write_text("")
