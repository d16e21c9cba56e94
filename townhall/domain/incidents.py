"""The incident timeline of a Space: what happened to it, minute by minute, and a verdict
per minute with the rule that gave it (README "Incident timeline"). No I/O.

Figures come in as `Tally`s: raw counts for one bucket (a minute by default) from one
source: an origin's own HTTP edge (townhall/app/incidents.py) or the edge's access log
(nginx's `townhall_edge` lines). Tallies of the same bucket add up (`merge`): every
origin of a cluster contributes its own. A tally is turned into `MinuteFigures` (shares,
percentiles, concentration), and `judge` gives the verdict:

  degraded      a backend of ours (Redis, the database) failed: a fact, named first;
  under attack  the traffic was mostly refused by the named rate limits, or it came
                from few networks (the top 10 sent >= 80 %) while something went wrong
                or limits refused some of it;
  overloaded    a sign of too little capacity (5xx, slow first audio, slow media
                answers, joins failing, the mixer late) while the traffic was spread;
  healthy       none of these.

Client addresses are never kept: a request counts for its network (/24 for IPv4, /48
for IPv6), and only the number of networks and the share of the top 10 are published.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field
from enum import StrEnum

from townhall import limits

HEALTHY, OVERLOADED, UNDER_ATTACK, DEGRADED = "healthy", "overloaded", "under_attack", "degraded"
# Status classes counted: 429 apart from the other 4xx (a refusal by a named limit).
STATUS_CLASSES = ("2xx", "3xx", "4xx", "429", "5xx")
# A network that could not be read (not an address: a test client, a Unix socket).
UNKNOWN_NETWORK = "unknown"


class Verdict(StrEnum):
    HEALTHY = HEALTHY
    OVERLOADED = OVERLOADED
    UNDER_ATTACK = UNDER_ATTACK
    DEGRADED = DEGRADED


@dataclass(frozen=True)
class Rule:
    id: str
    verdict: Verdict
    text: str


# The rules in the order they are tried; the first that holds gives the minute's verdict.
RULES: tuple[Rule, ...] = (
    Rule("backend_failed", Verdict.DEGRADED,
         "A backend of ours (Redis or the database) failed during the minute: requests "
         "answered 503 backend_unavailable, or periodic work could not reach it. This is "
         "a fact, so it is named first, whatever else happened."),
    Rule("mostly_refused", Verdict.UNDER_ATTACK,
         f"At least {limits.TIMELINE_REFUSED_SHARE:.0%} of the requests were refused by "
         "a named rate limit (429), with at least "
         f"{limits.TIMELINE_MIN_REQUESTS_PER_SECOND:g} requests/s: someone sent far more "
         "than any player does."),
    Rule("concentrated", Verdict.UNDER_ATTACK,
         f"The top {limits.TIMELINE_TOP_NETWORKS} client networks (/24, /48) sent at "
         f"least {limits.TIMELINE_CONCENTRATED_SHARE:.0%} of the requests, at over "
         f"{limits.TIMELINE_CONCENTRATED_REQUESTS_PER_SECOND:g} requests/s, and either a "
         "sign of too little capacity showed or at least "
         f"{limits.TIMELINE_SOME_REFUSED_SHARE:.0%} were refused by rate limits. "
         "(Concentrated traffic while everything works, such as a venue behind one "
         "address, is healthy.)"),
    Rule("capacity", Verdict.OVERLOADED,
         "A sign of too little capacity showed while the traffic was spread over many "
         f"networks: 5xx on over {limits.TIMELINE_ERROR_SHARE:.0%} of answers, time to "
         f"first audio p99 over {limits.TIMELINE_SLOW_FIRST_AUDIO_SECONDS:g} s, media "
         f"answers p99 over {limits.TIMELINE_SLOW_ANSWER_SECONDS:g} s (blocking playlist "
         f"reloads left out), under {limits.TIMELINE_JOIN_SUCCESS_SHARE:.0%} of join "
         f"attempts reaching audio (at least {limits.TIMELINE_MIN_JOINS} attempts), or "
         f"the mixer late on over {limits.TIMELINE_MIXER_LATE_SHARE:.0%} of its ticks."),
    Rule("healthy", Verdict.HEALTHY, "None of the rules above held."),
)
RULE_BY_ID = {rule.id: rule for rule in RULES}


def network_of(address: str) -> str:
    """The client network an address counts for: its /24 (IPv4) or /48 (IPv6). The
    address itself is never kept."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return UNKNOWN_NETWORK
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def status_class(status: int) -> str:
    if status == 429:
        return "429"
    if 200 <= status < 600:
        return f"{status // 100}xx"
    return "5xx"  # no answer at all (nginx logs 499/0 as its own codes) counts as failed


def _keep(sample: list[float], seen: int, value: float, bound: int) -> None:
    """A uniform reservoir: `seen` values offered so far (this one not counted yet)."""
    if len(sample) < bound:
        sample.append(value)
        return
    slot = random.randrange(seen + 1)
    if slot < bound:
        sample[slot] = value


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Tally:
    """Raw counts of one bucket from one source; tallies of the same bucket add up.

    While the bucket is open, requests are counted per network (`networks`, at most
    TIMELINE_MAX_NETWORKS, newcomers past it in `others`). `seal` replaces that map by
    the two numbers the figures need (distinct networks and the top 10's requests), so a
    closed bucket costs a few hundred bytes."""

    start: float
    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)  # limit name -> 429s
    networks: dict[str, int] = field(default_factory=dict)
    others: int = 0  # requests from networks past the bound
    sealed_networks: int = 0
    sealed_top: int = 0
    sealed: bool = False
    join_attempts: int = 0
    join_successes: int = 0
    ttfa: list[float] = field(default_factory=list)  # seconds, a reservoir
    ttfa_seen: int = 0
    answer_times: list[float] = field(default_factory=list)  # seconds, a reservoir
    answers_seen: int = 0
    cache_hits: int = 0
    cache_lookups: int = 0
    cpu_seconds: float = 0.0  # origin process CPU time spent in the bucket
    cpu_wall: float = 0.0  # wall time those CPU seconds were measured over
    mixer_ticks: int = 0
    mixer_late: int = 0
    backend_failures: int = 0
    edge: bool = False  # some figures came from the edge's access log

    # -- counting ---------------------------------------------------------------------
    def request(self, network: str, status: int, *, refused: str | None = None,
                join_attempt: bool = False, join_success: bool = False,
                answer_seconds: float | None = None, cache: str | None = None) -> None:
        """One answered request (`refused`: the limit a 429 named)."""
        self.requests += 1
        kind = status_class(status)
        self.statuses[kind] = self.statuses.get(kind, 0) + 1
        if kind == "429":
            reason = refused or "unnamed"
            self.refused[reason] = self.refused.get(reason, 0) + 1
        if network in self.networks or len(self.networks) < limits.TIMELINE_MAX_NETWORKS:
            self.networks[network] = self.networks.get(network, 0) + 1
        else:
            self.others += 1
        self.join_attempts += join_attempt
        self.join_successes += join_success
        if answer_seconds is not None:
            _keep(self.answer_times, self.answers_seen, answer_seconds,
                  limits.TIMELINE_MAX_TTFA_SAMPLES)
            self.answers_seen += 1
        if cache is not None and cache not in ("", "-"):
            self.cache_lookups += 1
            self.cache_hits += cache in ("HIT", "STALE", "UPDATING", "REVALIDATED")

    def first_audio(self, seconds: float) -> None:
        """A player's time from pressing play to hearing audio (its first beacon)."""
        _keep(self.ttfa, self.ttfa_seen, seconds, limits.TIMELINE_MAX_TTFA_SAMPLES)
        self.ttfa_seen += 1

    def merge(self, other: Tally) -> None:
        """Add another source's tally of the same bucket (another origin, the edge)."""
        self.requests += other.requests
        for mine, theirs in ((self.statuses, other.statuses), (self.refused, other.refused)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        if self.sealed or other.sealed:
            # Per-network counts are gone on one side: distinct networks and the top
            # share become estimates (the larger side's, plus the other's top).
            self.seal()
            other_networks, other_top = other._network_summary()
            self.sealed_networks = max(self.sealed_networks, other_networks)
            self.sealed_top += other_top
        else:
            for network, n in other.networks.items():
                if network in self.networks or len(self.networks) < limits.TIMELINE_MAX_NETWORKS:
                    self.networks[network] = self.networks.get(network, 0) + n
                else:
                    self.others += n
        self.others += other.others
        self.join_attempts += other.join_attempts
        self.join_successes += other.join_successes
        for value in other.ttfa:
            _keep(self.ttfa, self.ttfa_seen, value, limits.TIMELINE_MAX_TTFA_SAMPLES)
            self.ttfa_seen += 1
        for value in other.answer_times:
            _keep(self.answer_times, self.answers_seen, value, limits.TIMELINE_MAX_TTFA_SAMPLES)
            self.answers_seen += 1
        self.cache_hits += other.cache_hits
        self.cache_lookups += other.cache_lookups
        self.cpu_seconds += other.cpu_seconds
        self.cpu_wall = max(self.cpu_wall, other.cpu_wall)  # origins side by side
        self.mixer_ticks += other.mixer_ticks
        self.mixer_late += other.mixer_late
        self.backend_failures += other.backend_failures
        self.edge = self.edge or other.edge

    def _network_summary(self) -> tuple[int, int]:
        if self.sealed:
            return self.sealed_networks, self.sealed_top
        top = sorted(self.networks.values(), reverse=True)[:limits.TIMELINE_TOP_NETWORKS]
        return len(self.networks), sum(top)

    def seal(self) -> None:
        """The bucket is closed: keep only what the figures need of the networks."""
        if not self.sealed:
            self.sealed_networks, self.sealed_top = self._network_summary()
            self.networks = {}
            self.sealed = True

    # -- stored as JSON (Redis, the Space's stored summary) -----------------------------
    def to_json(self) -> dict[str, object]:
        distinct, top = self._network_summary()
        return {
            "start": self.start, "requests": self.requests, "statuses": self.statuses,
            "refused": self.refused, "networks": distinct, "top": top, "others": self.others,
            "join_attempts": self.join_attempts, "join_successes": self.join_successes,
            "ttfa": [round(v, 3) for v in self.ttfa], "ttfa_seen": self.ttfa_seen,
            "answer_times": [round(v, 3) for v in self.answer_times],
            "answers_seen": self.answers_seen, "cache_hits": self.cache_hits,
            "cache_lookups": self.cache_lookups, "cpu_seconds": round(self.cpu_seconds, 3),
            "cpu_wall": round(self.cpu_wall, 3), "mixer_ticks": self.mixer_ticks,
            "mixer_late": self.mixer_late, "backend_failures": self.backend_failures,
            "edge": self.edge,
        }

    @classmethod
    def from_json(cls, data: dict) -> Tally:  # type: ignore[type-arg]
        tally = cls(start=float(data["start"]))
        for name in ("requests", "others", "join_attempts", "join_successes", "ttfa_seen",
                     "answers_seen", "cache_hits", "cache_lookups", "mixer_ticks",
                     "mixer_late", "backend_failures"):
            setattr(tally, name, int(data.get(name, 0)))
        tally.statuses = {str(k): int(v) for k, v in dict(data.get("statuses", {})).items()}
        tally.refused = {str(k): int(v) for k, v in dict(data.get("refused", {})).items()}
        tally.ttfa = [float(v) for v in data.get("ttfa", [])]
        tally.answer_times = [float(v) for v in data.get("answer_times", [])]
        tally.cpu_seconds = float(data.get("cpu_seconds", 0.0))
        tally.cpu_wall = float(data.get("cpu_wall", 0.0))
        tally.edge = bool(data.get("edge", False))
        tally.sealed, tally.sealed_networks = True, int(data.get("networks", 0))
        tally.sealed_top = int(data.get("top", 0))
        return tally

    # -- read -------------------------------------------------------------------------
    def figures(self, seconds: float) -> MinuteFigures:
        distinct, top = self._network_summary()
        requests = self.requests
        return MinuteFigures(
            start=self.start, seconds=seconds, requests=requests,
            statuses={k: self.statuses.get(k, 0) for k in STATUS_CLASSES},
            refused=dict(sorted(self.refused.items(), key=lambda kv: -kv[1])),
            join_attempts=self.join_attempts, join_successes=self.join_successes,
            ttfa_p50=_percentile(self.ttfa, 0.5), ttfa_p99=_percentile(self.ttfa, 0.99),
            answer_p99=_percentile(self.answer_times, 0.99),
            cache_hit_ratio=(self.cache_hits / self.cache_lookups
                             if self.cache_lookups else None),
            cpu=(self.cpu_seconds / self.cpu_wall if self.cpu_wall > 0 else None),
            mixer_late_share=(self.mixer_late / self.mixer_ticks if self.mixer_ticks else None),
            networks=distinct + (1 if self.others else 0),
            networks_capped=self.others > 0,
            top_share=(top / requests if requests else 0.0),
            backend_failures=self.backend_failures,
            source="edge" if self.edge else "origin",
        )


@dataclass(frozen=True)
class MinuteFigures:
    """One bucket's figures, as published."""

    start: float  # unix time the bucket began
    seconds: float  # its length
    requests: int
    statuses: dict[str, int]  # by STATUS_CLASSES
    refused: dict[str, int]  # 429s by the limit that refused them
    join_attempts: int
    join_successes: int
    ttfa_p50: float | None  # seconds from play to first audio (players' first beacons)
    ttfa_p99: float | None
    answer_p99: float | None  # seconds to answer a media request (no blocking reloads)
    cache_hit_ratio: float | None  # edge only
    cpu: float | None  # origin process CPU, in cores (1.0 = one core busy)
    mixer_late_share: float | None  # share of the mixer's 20 ms ticks run late
    networks: int  # distinct client networks (/24, /48); "others" count as one
    networks_capped: bool  # more networks than TIMELINE_MAX_NETWORKS: at least this many
    top_share: float  # share of requests from the top TIMELINE_TOP_NETWORKS networks
    backend_failures: int
    source: str  # "edge" when the traffic figures come from the edge's access log

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, object]:
        def r(value: float | None, digits: int = 3) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "start": self.start, "seconds": self.seconds, "requests": self.requests,
            "statuses": self.statuses, "refused": self.refused,
            "join_attempts": self.join_attempts, "join_successes": self.join_successes,
            "ttfa_p50": r(self.ttfa_p50), "ttfa_p99": r(self.ttfa_p99),
            "answer_p99": r(self.answer_p99), "cache_hit_ratio": r(self.cache_hit_ratio),
            "cpu": r(self.cpu), "mixer_late_share": r(self.mixer_late_share),
            "networks": self.networks, "networks_capped": self.networks_capped,
            "top_share": r(self.top_share), "backend_failures": self.backend_failures,
            "source": self.source,
        }


def capacity_signs(f: MinuteFigures) -> list[str]:
    """The signs of too little capacity this minute shows, each in words."""
    signs = []
    if f.requests and f.statuses.get("5xx", 0) / f.requests > limits.TIMELINE_ERROR_SHARE:
        signs.append(f"5xx on {f.statuses['5xx'] / f.requests:.0%} of answers")
    if f.ttfa_p99 is not None and f.ttfa_p99 > limits.TIMELINE_SLOW_FIRST_AUDIO_SECONDS:
        signs.append(f"first audio p99 {f.ttfa_p99:.1f} s")
    if f.answer_p99 is not None and f.answer_p99 > limits.TIMELINE_SLOW_ANSWER_SECONDS:
        signs.append(f"media answers p99 {f.answer_p99:.1f} s")
    if (f.join_attempts >= limits.TIMELINE_MIN_JOINS
            and f.join_successes / f.join_attempts < limits.TIMELINE_JOIN_SUCCESS_SHARE):
        signs.append(f"{f.join_successes} of {f.join_attempts} joins reached audio")
    if (f.mixer_late_share is not None
            and f.mixer_late_share > limits.TIMELINE_MIXER_LATE_SHARE):
        signs.append(f"mixer late on {f.mixer_late_share:.0%} of ticks")
    return signs


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    rule: str  # a RULES id
    reason: str  # this minute's numbers that made the rule hold


def judge(f: MinuteFigures) -> Judgement:
    """The minute's verdict: the first of RULES that holds, and why, in numbers."""
    busy = f.per_second >= limits.TIMELINE_MIN_REQUESTS_PER_SECOND
    refused_share = f.refused_total / f.requests if f.requests else 0.0
    signs = capacity_signs(f)
    if f.backend_failures > 0:
        return Judgement(Verdict.DEGRADED, "backend_failed",
                         f"{f.backend_failures} failure(s) to reach Redis or the database")
    if busy and refused_share >= limits.TIMELINE_REFUSED_SHARE:
        reasons = ", ".join(f"{name}: {n}" for name, n in f.refused.items())
        return Judgement(Verdict.UNDER_ATTACK, "mostly_refused",
                         f"{refused_share:.0%} of {f.requests} requests refused ({reasons}); "
                         f"top {limits.TIMELINE_TOP_NETWORKS} networks sent {f.top_share:.0%}")
    concentrated = (f.top_share >= limits.TIMELINE_CONCENTRATED_SHARE
                    and f.per_second > limits.TIMELINE_CONCENTRATED_REQUESTS_PER_SECOND)
    if concentrated and (signs or refused_share >= limits.TIMELINE_SOME_REFUSED_SHARE):
        why = "; ".join(signs) or f"{refused_share:.0%} refused"
        return Judgement(Verdict.UNDER_ATTACK, "concentrated",
                         f"top {limits.TIMELINE_TOP_NETWORKS} of {f.networks} networks sent "
                         f"{f.top_share:.0%} of {f.requests} requests; {why}")
    if signs:
        return Judgement(Verdict.OVERLOADED, "capacity",
                         f"{'; '.join(signs)}; traffic from {f.networks} networks, top "
                         f"{limits.TIMELINE_TOP_NETWORKS} sent {f.top_share:.0%}")
    return Judgement(Verdict.HEALTHY, "healthy",
                     f"{f.requests} requests from {f.networks} networks")
