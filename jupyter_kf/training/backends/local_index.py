"""The local backend's index of finished jobs: a listing reads one file, not every job folder.

``<state>/jobs.index`` (beside the ``jobs`` folder, which holds job folders only) holds one JSON line per
finished job, an array (``line``: what a listing shows, and its folder's inode). A finished job's status
never changes, so a line holds while a folder of that name and inode is there: a listing checks that
against one ``os.scandir`` of the jobs folder (which costs no stat), and reads the folders of every job
not finished (or not indexed yet) each time, so it sees a new job at once and never a stale phase.

Writers append whole lines under one ``flock`` (``jobs.index.lock``): supervisors as their jobs end
(``local_supervisor.index_line``, this ``line``'s twin), listings for finished jobs not indexed yet,
deletes a tombstone ``[name, null]`` (a new folder of that name may get the old inode). An appender
re-reads the job's created_ts under the lock, so a job deleted and created again meanwhile is never
indexed with the old status. Compaction rewrites the file atomically under the same lock. A torn or
damaged line is skipped: that job's folder is read instead. JSON only: nothing here is ever unpickled.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

SUFFIX, LOCK_SUFFIX = ".index", ".index.lock"  # <jobs folder's parent>/<its name>.index, e.g. <state>/jobs.index
COMPACT_SLACK = 256  # lines beyond twice the live entries before a listing compacts the file
_cache: dict[str, tuple] = {}  # index path -> (inode, offset read to, entries, lines): a listing again reads the tail
_cache_lock = threading.Lock()


NAME, INO, CREATED_TS = 0, 1, 2  # a line: [name, ino, created_ts, created, workers, cpu, memory, gpus, pipeline,
#                                          phase, started, finished, message, [[rank, phase, exit_code, reason]]]
TERMINAL = ("Succeeded", "Failed", "Cancelled")


def line(name: str, ino: int, meta: dict, state: dict) -> list:
    """A finished job's line, from its meta.json and final status.json."""
    spec, phase = meta["spec"], state["phase"]
    pipeline = meta.get("pipeline")
    pipeline = {k: pipeline.get(k) for k in ("run", "step")} if pipeline else None
    workers = [[w["rank"], w["phase"] if w["phase"] in TERMINAL else phase, w.get("exit_code"), w.get("reason", "")]
               for w in state["workers"]]
    return [name, ino, meta.get("created_ts", 0), meta.get("created"), spec["workers"], spec.get("cpu"),
            spec.get("memory"), spec.get("gpus", 0), pipeline,
            phase, state.get("started"), state.get("finished"), state.get("message", ""), workers]


def _index(root: Path) -> Path:
    return root.parent / f"{root.name}{SUFFIX}"


def _lock(root: Path) -> Path:
    return root.parent / f"{root.name}{LOCK_SUFFIX}"


def keep(root: Path) -> None:
    """Make ``root`` a jobs folder with an index: supervisors index their jobs only where its lock file is."""
    os.close(os.open(_lock(root), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))


@contextlib.contextmanager
def locked(root: Path):
    """The writers' lock (also the supervisors', which take it with the same ``flock``)."""
    import fcntl

    fd = os.open(_lock(root), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def load(root: Path) -> dict[str, list]:
    """name -> the newest line for it; what this process read before is reused and only the new tail parsed."""
    path = str(_index(root))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return {}
    with _cache_lock, os.fdopen(fd, "rb") as f:
        ino = os.fstat(f.fileno()).st_ino
        known = _cache.get(path)
        offset, entries, count = (known[1], dict(known[2]), known[3]) if known and known[0] == ino else (0, {}, 0)
        f.seek(offset)
        tail = f.read()
        end = tail.rfind(b"\n") + 1  # a line still being appended waits for the next listing
        lines = _parse(tail[:end])
        for row in lines:
            if not isinstance(row, list) or not row or not isinstance(row[NAME], str):
                continue
            if len(row) == 14:
                entries[row[NAME]] = row
            elif len(row) == 2 and row[1] is None:
                entries.pop(row[NAME], None)
        _cache[path] = (ino, offset + end, entries, count + len(lines))
        return dict(entries)


def _parse(text: bytes) -> list:
    """All lines in one ``json.loads`` (fast); line by line, skipping damaged ones, only when that fails."""
    if not text:
        return []
    lines = text.rstrip(b"\n").split(b"\n")
    try:
        return json.loads(b"[" + b",".join(lines) + b"]")
    except ValueError:
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except ValueError:
                continue
        return parsed


def _append(root: Path, lines: list[list]) -> None:
    if not lines:
        return
    text = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
    fd = os.open(_index(root), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, text)
    finally:
        os.close(fd)


def add(root: Path, lines: list[list]) -> None:
    """Index finished jobs a listing found unindexed; each checked under the lock to be that same job still."""
    if lines:
        with contextlib.suppress(OSError), locked(root):
            _append(root, [row for row in lines if _created_ts(root / row[NAME]) == row[CREATED_TS]])


def _created_ts(folder: Path):
    try:
        return json.loads((folder / "meta.json").read_bytes()).get("created_ts", 0)
    except (OSError, ValueError):
        return None


def forget(root: Path, name: str) -> None:
    """A tombstone for a job whose folder was removed (or moved aside): its line no longer holds."""
    with contextlib.suppress(OSError), locked(root):
        _append(root, [[name, None]])


def compact(root: Path, live: set[str]) -> None:
    """Rewrite the index with the live lines only, atomically, under the writers' lock."""
    tmp = root.parent / f"{root.name}{SUFFIX}.tmp{os.getpid()}"
    with contextlib.suppress(OSError), locked(root):
        fresh = load(root)  # lines appended since the caller's read stay
        keep = [fresh[name] for name in live if name in fresh]
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in keep))
        os.replace(tmp, _index(root))


def needs_compaction(root: Path, live: int) -> bool:
    """True when the index as last read holds many more lines (replaced ones, tombstones) than live jobs."""
    known = _cache.get(str(_index(root)))
    return bool(known) and known[3] > 2 * live + COMPACT_SLACK
