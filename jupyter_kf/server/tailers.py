"""One reader per followed job, however many log streams show it.

Each client of ``GET jobs/<name>/logs`` once polled the job's status and logs every 0.25 s on its own:
200 open log tabs cost most of a core. A ``JobTail`` polls once for all of them and keeps what it read
(the lines, bounded; each worker's line still being redrawn; the status); each client reads from its
own position and wakes when something changed. A tail stops once its job has ended and been read to
the end, or when no client has watched it for a while.
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Callable

from jupyter_kf.errors import KfError

LINES_KEPT = 20_000  # per job: bounded memory however long a job talks; a late client is told what it missed
IDLE_SECONDS = 5.0  # a tail nobody watches polls this long before it stops


class JobTail:
    """What one job's stream clients share: the lines read so far, the pending lines, the status."""

    def __init__(self, job, poll_seconds: float, on_stop: Callable[[], None]):
        self.job, self.poll_seconds, self._on_stop = job, poll_seconds, on_stop
        self.lines: deque[tuple[int, str]] = deque(maxlen=LINES_KEPT)
        self.total = 0  # lines ever read: positions count from the first
        self.pending: list[tuple[int, str]] = []
        self.status = None  # the JobStatus of the last poll
        self.error: KfError | None = None
        self.ended = False  # the job has ended and every line was read
        self.version = 0  # bumped on every change: clients wait for it to move
        self.watchers = 0
        self._changed = asyncio.Condition()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        backend, name = self.job.backend, self.job.name
        read_tail = getattr(backend, "read_tail", None)
        cursor, idle_polls = None, 0
        try:
            while idle_polls * self.poll_seconds < IDLE_SECONDS:
                status = await asyncio.to_thread(self.job.status)
                lines, cursor = await asyncio.to_thread(backend.read_logs, name, cursor)
                pending = []
                if read_tail is not None:
                    tails = await asyncio.to_thread(read_tail, name)
                    lines, pending = (lines + tails, []) if status.done else (lines, tails)
                await self._publish(status, lines, pending)
                if status.done:
                    return
                idle_polls = 0 if self.watchers else idle_polls + 1
                await asyncio.sleep(self.poll_seconds)
        except KfError as err:  # the job went away mid-stream
            self.error = err
        finally:
            self.ended = True
            self._on_stop()
            await self._publish(self.status, [], self.pending)

    async def _publish(self, status, lines: list, pending: list) -> None:
        changed = bool(lines) or pending != self.pending or status is not self.status and (
            self.status is None or status.to_dict() != self.status.to_dict())
        self.lines.extend(lines)
        self.total += len(lines)
        self.pending, self.status = pending, status
        if changed or self.ended:
            async with self._changed:
                self.version += 1
                self._changed.notify_all()

    async def wait(self, seen: int, timeout: float) -> int:
        """The version after ``seen`` (at once if it moved already), or ``seen`` after ``timeout``."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version != seen), timeout)
            except asyncio.TimeoutError:
                pass
            return self.version

    def since(self, position: int) -> tuple[list[tuple[int, str]], int, int]:
        """Lines after ``position``, the new position, and how many lines fell out of the buffer unseen."""
        first = self.total - len(self.lines)
        start = max(position, first)
        return list(self.lines)[start - first:], self.total, start - position


class Tailers:
    """The running tails, one per (backend, job name); a client joins one or starts it."""

    def __init__(self, poll_seconds: float):
        self.poll_seconds = poll_seconds
        self.tails: dict[tuple, JobTail] = {}

    def join(self, key: tuple, job) -> JobTail:
        tail = self.tails.get(key)
        if tail is None or tail.ended:
            tail = self.tails[key] = JobTail(job, self.poll_seconds, lambda: self._forget(key, tail))
        tail.watchers += 1
        return tail

    @staticmethod
    def leave(tail: JobTail) -> None:
        tail.watchers -= 1

    def _forget(self, key: tuple, tail: JobTail | None) -> None:
        if self.tails.get(key) is tail:
            del self.tails[key]
