"""Known speech for caption tests and benchmarks: sentences spoken by espeak-ng (Debian)
at 48 kHz, noise at a fixed SNR, LibriVox clips from Debian's pocketsphinx-testdata when
installed, and word error rate."""

from __future__ import annotations

import re
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 48_000
# Words espeak-ng says clearly enough for any recogniser (tests match on them).
SENTENCES = (
    "Welcome to the town hall meeting about the new public library.",
    "The river bridge will be closed for repairs during the summer.",
    "Please send your questions to the council before Friday evening.",
    "Our volunteers planted three hundred trees in the park last spring.",
    "The weather forecast says it will be sunny and warm tomorrow.",
    "Thank you all for listening and see you next week.",
)
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


@dataclass(frozen=True)
class Utterance:
    text: str
    pcm: np.ndarray  # int16 mono at RATE


def espeak(text: str, speed: int = 150) -> np.ndarray:
    """`text` spoken by espeak-ng, as int16 mono at 48 kHz."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(speed), "-w", tmp.name, text],
                       check=True, capture_output=True)
        return read_wav(Path(tmp.name))


def read_wav(path: Path) -> np.ndarray:
    """A mono 16-bit WAV, resampled (linear) to 48 kHz int16."""
    with wave.open(str(path)) as w:
        rate, channels = w.getframerate(), w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    if channels > 1:
        data = data.reshape(-1, channels)[:, 0]
    if rate == RATE:
        return data.astype(np.int16)
    t = np.arange(int(len(data) * RATE / rate)) / RATE
    return np.interp(t, np.arange(len(data)) / rate, data.astype(np.float64)).astype(np.int16)


def with_pauses(utterances: list[Utterance], pause: float = 1.5,
                lead: float = 1.0) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """One track: `lead` s of silence, then each utterance followed by `pause` s of
    silence; and (start, end, text) of each in seconds."""
    gap = np.zeros(int(pause * RATE), np.int16)
    parts = [np.zeros(int(lead * RATE), np.int16)]
    spans, at = [], lead
    for u in utterances:
        spans.append((at, at + len(u.pcm) / RATE, u.text))
        parts += [u.pcm, gap]
        at += (len(u.pcm) + len(gap)) / RATE
    return np.concatenate(parts), spans


def add_noise(pcm: np.ndarray, snr_db: float, seed: int = 7) -> np.ndarray:
    """White noise at `snr_db` below the speech's power (over its voiced samples)."""
    x = pcm.astype(np.float64)
    voiced = x[np.abs(x) > 300]
    power = float(np.mean(voiced**2)) if voiced.size else 1.0
    noise = np.random.default_rng(seed).normal(0, np.sqrt(power / 10 ** (snr_db / 10)), len(x))
    return np.clip(x + noise, -32768, 32767).astype(np.int16)


def librivox_clips() -> list[Utterance]:
    """Recorded speech (five LibriVox clips in Debian's pocketsphinx-testdata) with its
    transcript; [] if the package is not installed."""
    try:
        lines = (LIBRIVOX / "transcription").read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        match = re.fullmatch(r"<s> (.*) </s> \((\S+)\)", line.strip())
        if match and (LIBRIVOX / f"{match[2]}.wav").exists():
            out.append(Utterance(match[1], read_wav(LIBRIVOX / f"{match[2]}.wav")))
    return out


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: (substitutions + deletions + insertions) / reference words."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))
