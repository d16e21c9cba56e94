"""Transcripts: the live captions' log, the final pass over it, and the file others read.

In a Space's recording directory:
- `captions.jsonl`: one line per final live caption (appended, fsynced, like the
  recorder's index): when it was said (program date time of its start and end), who,
  what, and its audio at 16 kHz in `captions/u{n}.pcm` (int16) for the final pass.
- `transcript.json`: `{"final": bool, "model": str, "segments": [{"start", "end",
  "speaker_id", "speaker", "text"}]}` with times in seconds of the replay (0 = the first
  recorded segment's start, the replay playlist's timeline). Written atomically (temp
  file + fsync + rename). `final` is true once the pass after the Space has run.

`load_transcript(directory)` is the reader for everyone else (clips, podcast feed).
All of this blocks (files): callers run it in worker threads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from townhall.media.captions.engine import FINAL_BEAM, ModelSource
from townhall.media.captions.vtt import timestamp
from townhall.media.recorder import recorded_segments

log = logging.getLogger(__name__)

TRANSCRIPT_NAME = "transcript.json"
CAPTIONS_LOG = "captions.jsonl"
AUDIO_DIR = "captions"


@dataclass(frozen=True)
class TranscriptSegment:
    start: float
    end: float
    speaker_id: int | None
    speaker: str
    text: str


@dataclass(frozen=True)
class Transcript:
    final: bool
    model: str
    segments: tuple[TranscriptSegment, ...]

    def to_json(self) -> dict[str, object]:
        return {"final": self.final, "model": self.model,
                "segments": [asdict(s) for s in self.segments]}

    def to_vtt(self) -> str:
        out = "WEBVTT\n"
        for s in self.segments:
            out += f"\n{timestamp(s.start)} --> {timestamp(s.end)}\n<v {_clean(s.speaker)}>" \
                   f"{_clean(s.text).replace('<', '&lt;')}\n"
        return out

    def to_srt(self) -> str:
        blocks = []
        for n, s in enumerate(self.segments, 1):
            span = f"{timestamp(s.start)} --> {timestamp(s.end)}".replace(".", ",")
            blocks.append(f"{n}\n{span}\n{_clean(s.speaker)}: {_clean(s.text)}\n")
        return "\n".join(blocks)

    def to_txt(self) -> str:
        return "".join(f"[{timestamp(s.start)[:8]}] {_clean(s.speaker)}: {_clean(s.text)}\n"
                       for s in self.segments)

    def text(self) -> str:
        """All the words, for search."""
        return " ".join(s.text for s in self.segments)


def _clean(text: str) -> str:
    return " ".join(text.replace("-->", "->").split())


def load_transcript(path: Path) -> Transcript | None:
    """The transcript at `path` (a transcript.json, or the recording directory holding
    one); None if there is none or it cannot be read."""
    if path.is_dir():
        path = path / TRANSCRIPT_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Transcript(bool(data.get("final", False)), str(data.get("model", "")), tuple(
            TranscriptSegment(float(s["start"]), float(s["end"]),
                              None if s.get("speaker_id") is None else int(s["speaker_id"]),
                              str(s["speaker"]), str(s["text"]))
            for s in data["segments"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_transcript(directory: Path, transcript: Transcript) -> None:
    _write_atomic(directory / TRANSCRIPT_NAME,
                  json.dumps(transcript.to_json(), ensure_ascii=False).encode())


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


# -- the live captions' log --------------------------------------------------------------
@dataclass(frozen=True)
class SpokenLine:
    n: int
    start: datetime  # program date time of the utterance's start
    end: datetime
    speaker_id: int | None
    speaker: str
    text: str


def log_caption(directory: Path, line: SpokenLine, audio: np.ndarray | None) -> bool:
    """Append one final caption (and its audio); False if the disk refused."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if audio is not None:
            (directory / AUDIO_DIR).mkdir(exist_ok=True)
            pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
            _write_atomic(directory / AUDIO_DIR / f"u{line.n}.pcm", pcm)
        entry = {"n": line.n, "start": line.start.isoformat(), "end": line.end.isoformat(),
                 "speaker_id": line.speaker_id, "speaker": line.speaker, "text": line.text}
        with open(directory / CAPTIONS_LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return True
    except OSError as exc:
        log.error("could not keep a caption in %s: %s", directory, exc)
        return False


def read_caption_log(directory: Path) -> list[SpokenLine]:
    try:
        lines = (directory / CAPTIONS_LOG).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    spoken = []
    for line in lines:
        try:
            e = json.loads(line)
            spoken.append(SpokenLine(int(e["n"]), datetime.fromisoformat(e["start"]),
                                     datetime.fromisoformat(e["end"]), e.get("speaker_id"),
                                     str(e["speaker"]), str(e["text"])))
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line after a crash
    return spoken


def replay_time(segments: list[tuple[int, float, datetime, bool]], moment: datetime) -> float | None:
    """Seconds into the replay (the VOD playlist's timeline: recorded segments end to end)
    at which `moment` plays; None before the recording or after it."""
    elapsed = 0.0
    for _, duration, pdt, _ in segments:
        if pdt <= moment < pdt + timedelta(seconds=duration):
            return elapsed + (moment - pdt).total_seconds()
        if moment < pdt:  # in a gap between runs: the next segment's start
            return elapsed if elapsed else None
        elapsed += duration
    return None


def live_transcript(directory: Path, model: str,
                    texts: Callable[[SpokenLine], str] | None = None) -> Transcript:
    """The transcript from the live captions' log, on the replay's timeline; `texts`
    may give each line a better text (the final pass)."""
    segments = recorded_segments(directory)
    out = []
    for line in read_caption_log(directory):
        start, end = replay_time(segments, line.start), replay_time(segments, line.end)
        if start is None and end is not None and line.start < segments[0][2]:
            start = 0.0  # began just before the recording did
        if start is None:
            continue  # in the waiting room (before the recording began) or after its cut
        end = end if end is not None and end > start else start + (line.end - line.start).total_seconds()
        text = texts(line) if texts is not None else line.text
        if text.strip():
            out.append(TranscriptSegment(round(start, 3), round(end, 3), line.speaker_id,
                                         line.speaker, text.strip()))
    return Transcript(texts is not None, model, tuple(out))


def utterance_audio(directory: Path, n: int) -> np.ndarray | None:
    try:
        data = (directory / AUDIO_DIR / f"u{n}.pcm").read_bytes()
    except OSError:
        return None
    return np.frombuffer(data, "<i2").astype(np.float32) / 32768.0


def run_final_pass(directory: Path, source: ModelSource, beam: int = FINAL_BEAM) -> Transcript:
    """After the Space: decode every live utterance again with a beam (in a worker
    process of its own, at a low priority), replace the live transcript with the result
    and return it. Progress goes to the log."""
    from townhall.media.captions.pipeline import RecogniserProcess

    lines = read_caption_log(directory)
    better: dict[int, str] = {}
    process = RecogniserProcess(source)
    try:
        model = process.wait_ready()
        cpu = 0.0
        for i, line in enumerate(lines, 1):
            audio = utterance_audio(directory, line.n)
            if audio is None:
                continue
            better[line.n], used = process.transcribe(audio, beam)
            cpu += used
            if i % 20 == 0 or i == len(lines):
                log.info("final transcript of %s: %d/%d utterances (%.1f CPU-s)",
                         directory.name, i, len(lines), cpu)
    finally:
        process.close()
    transcript = live_transcript(directory, f"{model}, beam {beam}",
                                 lambda line: better.get(line.n, line.text))
    write_transcript(directory, transcript)
    return transcript
