"""How Discover ranks a Space, and the sentence each part of its score is shown as.

Pure: the figures come in (townhall/app/home.py reads them), a score and the reasons go
out. Every term of the score is a reason on the card, so nothing raises a Space without
saying so; a term that adds nothing says nothing.

    score = 3 · S            S: people you follow on its speaker list (host, co-hosts,
                                speakers), at most 5 counted
          + 2 · H            H: people you follow who follow its host, at most 5 counted
          + 1 · T            T: its topics that people you follow host Spaces about or
                                that you set reminders for, at most 2 counted
          + log10(1 + L)     L: listening now (live Spaces)
          + log10(1 + R)     R: reminders set (upcoming Spaces)
          + 1                if it is live now
          + 1 / (1 + h)      h: hours until an upcoming Space starts (0 once due, or
                                when it has no start time: "now", not started yet)

Sentences: "2 people you follow are speaking" ("will speak" before it starts), "Its host
is followed by 3 people you follow", "People you follow talk about #tech" / "You set
reminders for Spaces about #tech", "1,240 listening now", "12 reminders set", "Live
now", "Starts in 20 min" (or "Starting soon"). Reasons are listed biggest part first. Equal scores: live
before upcoming, then more listeners, then the earlier start, then the Space's id.

Someone signed out has no follows and no reminders: their Discover is ranked by what
everyone sees (listening now, reminders, live, how soon).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

# Weights and caps of the terms above (a crowd of followed speakers cannot bury
# everything else: each social term counts at most this many people).
SPEAKER_WEIGHT = 3.0
HOST_FOLLOWED_WEIGHT = 2.0
TOPIC_WEIGHT = 1.0
LIVE_BONUS = 1.0
MAX_COUNTED_PEOPLE = 5
MAX_COUNTED_TOPICS = 2

# How the formula reads on the home page (the page shows this; it has no copy).
FORMULA = ("Score = 3 × people you follow speaking (up to 5) + 2 × people you follow "
           "who follow the host (up to 5) + 1 × topics you follow people about or set "
           "reminders for (up to 2) + log10(1 + listening now) + log10(1 + reminders) "
           "+ 1 if live + 1 / (1 + hours until it starts).")

# Where a topic of interest comes from (the reason names it).
FROM_FOLLOWS = "follows"
FROM_REMINDERS = "reminders"


@dataclass(frozen=True)
class Signals:
    """What is known about one Space for one viewer."""

    live: bool
    followed_speakers: int = 0
    host_followed_by: int = 0
    # This Space's topics the viewer is interested in, each with where that came from
    # (FROM_FOLLOWS or FROM_REMINDERS), in the Space's order.
    shared_topics: tuple[tuple[str, str], ...] = ()
    listeners: int = 0
    reminders: int = 0
    # Upcoming: how long until its start time (None: a "now" Space not started yet).
    hours_to_start: float | None = None


@dataclass(frozen=True)
class Ranked:
    score: float
    reasons: list[str] = field(default_factory=list)


def _people(count: int, singular: str, plural: str) -> str:
    return f"{count:,} {singular if count == 1 else plural}"


def starts_in(hours: float) -> str:
    """'Starts in 20 min', 'Starts in 3 h', 'Starts in 2 days', 'Starting now'."""
    minutes = round(hours * 60)
    if minutes <= 0:
        return "Starting now"
    if minutes < 60:
        return f"Starts in {minutes} min"
    if hours < 48:
        return f"Starts in {round(hours)} h"
    return f"Starts in {round(hours / 24)} days"


def rank(s: Signals) -> Ranked:
    """The score of one Space and its reasons, biggest part first."""
    parts: list[tuple[float, str]] = []
    if s.followed_speakers:
        verb = ("is speaking" if s.followed_speakers == 1 else "are speaking") if s.live \
            else "will speak"
        parts.append((SPEAKER_WEIGHT * min(s.followed_speakers, MAX_COUNTED_PEOPLE),
                      f"{_people(s.followed_speakers, 'person', 'people')} you follow {verb}"))
    if s.host_followed_by:
        parts.append((HOST_FOLLOWED_WEIGHT * min(s.host_followed_by, MAX_COUNTED_PEOPLE),
                      "Its host is followed by "
                      f"{_people(s.host_followed_by, 'person', 'people')} you follow"))
    for topic, origin in s.shared_topics[:MAX_COUNTED_TOPICS]:
        text = (f"People you follow talk about #{topic}" if origin == FROM_FOLLOWS
                else f"You set reminders for Spaces about #{topic}")
        parts.append((TOPIC_WEIGHT, text))
    if s.live and s.listeners:
        parts.append((math.log10(1 + s.listeners), f"{s.listeners:,} listening now"))
    if not s.live and s.reminders:
        parts.append((math.log10(1 + s.reminders),
                      f"{_people(s.reminders, 'reminder', 'reminders')} set"))
    if s.live:
        parts.append((LIVE_BONUS, "Live now"))
    elif s.hours_to_start is None:  # a "now" Space its host has not started yet
        parts.append((1.0, "Starting soon"))
    else:
        hours = max(0.0, s.hours_to_start)
        parts.append((1 / (1 + hours), starts_in(hours)))
    # Biggest part first; equal parts keep the formula's order (sorted is stable).
    parts.sort(key=lambda part: -part[0])
    return Ranked(score=round(sum(p for p, _ in parts), 3), reasons=[t for _, t in parts])


def shared_topics(topics: Iterable[str], interests: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The Space's topics found in `interests` (lower-cased topic -> where it came
    from), each once, in the Space's order."""
    seen: set[str] = set()
    found = []
    for topic in topics:
        key = topic.lower()
        if key in interests and key not in seen:
            seen.add(key)
            found.append((topic, interests[key]))
    return tuple(found)


def order_key(ranked: Ranked, s: Signals, space_id: str) -> tuple[float, int, int, float, str]:
    """Best first: score, then live, then listeners, then the earlier start, then id."""
    return (-ranked.score, 0 if s.live else 1, -s.listeners,
            s.hours_to_start if s.hours_to_start is not None else 0.0, space_id)
