"""Durable recording: every completed segment goes to disk as it is made.

Layout under data_dir/recordings/<space_id>/: init.mp4, segN.m4s, and segments.jsonl
(one line per segment, appended and fsynced), from which the replay (VOD) playlist is
rendered. A crash loses at most the segment being made.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path

from townhall.media.llhls import INIT_NAME, render_vod, segment_name

log = logging.getLogger(__name__)
INDEX_NAME = "segments.jsonl"


class Recorder:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.errors = 0

    def write_init(self, data: bytes) -> None:
        self._write_file(INIT_NAME, data)

    def write_segment(
        self, msn: int, data: bytes, duration: float, pdt: datetime, restarted: bool = False
    ) -> None:
        self._write_file(segment_name(msn), data)
        entry = {"msn": msn, "duration": duration, "pdt": pdt.isoformat(), "restarted": restarted}
        line = json.dumps(entry)
        try:
            with open(self.directory / INDEX_NAME, "a", encoding="utf-8") as index:
                index.write(line + "\n")
                index.flush()
                os.fsync(index.fileno())
        except OSError:
            self.errors += 1
            log.exception("recording index write failed for %s", self.directory)

    def _write_file(self, name: str, data: bytes) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.directory / f".{name}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.directory / name)
        except OSError:
            # Live listening must go on when the disk fails; the error is counted.
            self.errors += 1
            log.exception("recording write failed: %s/%s", self.directory, name)


def recorded_segments(directory: Path) -> list[tuple[int, float, datetime, bool]]:
    try:
        lines = (directory / INDEX_NAME).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    segments = []
    for line in lines:
        try:
            entry = json.loads(line)
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
    return segments


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
