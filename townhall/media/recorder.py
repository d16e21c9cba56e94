"""Durable recording: every completed segment goes to disk as it is made.

Layout under data_dir/recordings/<space_id>/: init.mp4, segN.m4s, and segments.jsonl
(one line per segment, appended and fsynced), from which the replay (VOD) playlist is
rendered. A crash loses at most the segment being made. A line {"cut": time} ends the
replay at that time (a Space that ended itself keeps nothing after its warning):
segments starting at or after it are left out, and their files removed once the Space's
media has stopped (prune_cut).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from datetime import datetime
from pathlib import Path

from townhall.media.llhls import INIT_NAME, render_vod, segment_name

log = logging.getLogger(__name__)
INDEX_NAME = "segments.jsonl"


class Recorder:
    """Writes never raise: live listening must go on when the disk fails. A failure is
    counted, kept in `last_error` for the host, and leaves no half-written file or index
    line behind, so recording simply resumes when the disk has room again."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.errors = 0
        self.last_error: str | None = None
        # Segment lines and a cut may be appended from different worker threads.
        self._index_lock = threading.Lock()

    def write_init(self, data: bytes) -> bool:
        return self._write_file(INIT_NAME, data)

    def write_segment(
        self, msn: int, data: bytes, duration: float, pdt: datetime, restarted: bool = False
    ) -> bool:
        if not self._write_file(segment_name(msn), data):
            return False
        entry = {"msn": msn, "duration": duration, "pdt": pdt.isoformat(), "restarted": restarted}
        return self._append_index(json.dumps(entry) + "\n", segment_name(msn))

    def cut(self, at: datetime) -> bool:
        """The replay ends at `at`: what is recorded from then on is left out of it."""
        return self._append_index(json.dumps({"cut": at.isoformat()}) + "\n", None)

    def _append_index(self, line: str, name: str | None) -> bool:
        with self._index_lock:
            return self._append_index_line(line, name)

    def _append_index_line(self, line: str, name: str | None) -> bool:
        path = self.directory / INDEX_NAME
        size = None  # unknown until read: then nothing is truncated
        try:
            size = path.stat().st_size if path.exists() else 0  # may fail too (the disk)
            with open(path, "a", encoding="utf-8") as index:
                index.write(line)
                index.flush()
                os.fsync(index.fileno())
        except OSError as exc:
            if size is not None:
                with contextlib.suppress(OSError):
                    os.truncate(path, size)  # no torn line to swallow the next entry
            if name is not None:
                with contextlib.suppress(OSError):
                    (self.directory / name).unlink()
            return self._failed(exc, INDEX_NAME)
        self.last_error = None
        return True

    def _write_file(self, name: str, data: bytes) -> bool:
        tmp = self.directory / f".{name}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.directory / name)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            return self._failed(exc, name)
        return True

    def _failed(self, exc: OSError, name: str) -> bool:
        self.errors += 1
        self.last_error = f"recording paused: {exc.strerror or exc} ({name})"
        log.error("recording write failed: %s/%s: %s", self.directory, name, exc)
        return False


def recorded_segments(directory: Path) -> list[tuple[int, float, datetime, bool]]:
    """The segments of the replay, in order: those from a cut on are left out."""
    segments, cut = _read_index(directory)
    return [s for s in segments if cut is None or s[2] < cut]


def _read_index(directory: Path) -> tuple[list[tuple[int, float, datetime, bool]],
                                            datetime | None]:
    """Every recorded segment, and the earliest cut (None: the replay keeps them all)."""
    try:
        lines = (directory / INDEX_NAME).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return [], None
    segments = []
    cuts: list[datetime] = []
    for line in lines:
        try:
            entry = json.loads(line)
            if "cut" in entry:
                cuts.append(datetime.fromisoformat(entry["cut"]))
                continue
            segments.append(
                (
                    int(entry["msn"]),
                    float(entry["duration"]),
                    datetime.fromisoformat(entry["pdt"]),
                    bool(entry.get("restarted", False)),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line after a crash
    return segments, min(cuts, default=None)


def prune_cut(directory: Path) -> int:
    """Remove the files of segments a cut left out of the replay (call it once nothing
    records there any more); how many were removed."""
    segments, cut = _read_index(directory)
    removed = 0
    for msn, _, pdt, _ in segments:
        if cut is not None and pdt >= cut:
            with contextlib.suppress(OSError):  # gone already, or a disk we cannot write
                (directory / segment_name(msn)).unlink()
                removed += 1
    return removed


def replay_playlist(directory: Path, target_duration: int) -> str | None:
    segments = recorded_segments(directory)
    if not segments:
        return None
    return render_vod(segments, target_duration)


def read_recorded(directory: Path, name: str) -> bytes | None:
    path = directory / name
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
