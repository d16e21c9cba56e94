"""What 1.3 million listeners of one Space for an hour need on each listener path,
computed from the newest `benchmarks.icecast_side_by_side --json` results (issue #16).

    .venv/bin/python -m benchmarks.capacity_plan                      # writes docs/capacity-plan.md
    .venv/bin/python -m benchmarks.capacity_plan --results FILE --listeners 1300000

Per path (LL-HLS via nginx, LL-DASH via Varnish, Icecast for reference), from the row
at the largest audience that kept up (the per-listener cost falls as an edge's
audience grows; the largest measured is the nearest to a loaded machine):

* edge machines = listeners x edge CPU-s per listener-second / (cores x target
  utilisation), i.e. the measured cost scaled linearly past the measured audience;
* CDN requests and bytes per hour = listeners x requests per listener-second x 3600,
  and listeners x the stream's bitrate x 3600 (container overhead left out);
* origin requests/s = edge machines x origin requests per second one edge sent (with
  no shield tier between edges and origins; a shield divides it by its fan-in);
* origin CPU = the Space's production + edge machines x what serving one edge costs,
  both estimated from the same run (see `origin_model`);
* origin-to-edge bandwidth = edge machines x one 64 kb/s stream;
* Redis: every Townhall player beacons every limits.BEACON_INTERVAL s; each beacon is
  BEACON_REDIS_ROUND_TRIPS round trips (townhall/http/api/audience.py), all on the
  Space's keys (one Redis shard: the keys are per Space).
"""

from __future__ import annotations

import argparse
import json
import math
from datetime import UTC, datetime
from pathlib import Path

from townhall import limits
from townhall.media import dash

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "benchmarks" / "results"
OUT = REPO_ROOT / "docs" / "capacity-plan.md"
LISTENERS = 1_300_000
HOURS = 1.0
# The edge machine the plan counts: 2 cores (as the benchmark machine), run at 70 % of
# its CPU so a machine's loss or a join surge has headroom.
MACHINE_CORES = 2
TARGET_UTILISATION = 0.70
# Bits per second of one listener's stream (Townhall's AAC and Icecast's MP3 alike).
STREAM_BPS = limits.AAC_BITRATE
# A beacon: the per-address rate limit (EVALSHA), "already counted?" (ZSCORE) and the
# beat itself (EVALSHA of ~15 calls on the Space's sorted sets, HyperLogLog, hashes).
BEACON_REDIS_ROUND_TRIPS = 3
BEACON_LUA_CALLS = 15
# Joining: the plan's audience arrives over this many minutes (a big Space fills up over
# its first minutes). The Varnish edge answers each joining DASH player's /hls/clock
# itself (since bf3b357; the benchmark's rows were measured before, when it passed).
JOIN_MINUTES = 10
PATHS = {"ll-hls": "LL-HLS via nginx", "ll-dash": "LL-DASH via Varnish",
         "icecast": "Icecast 2.4.4 (reference)"}


def newest_results() -> Path:
    """The newest icecast_side_by_side results file with summaries of every path."""
    candidates = []
    for path in RESULTS.glob("icecast_side_by_side*.json"):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "summary" in data and \
                {r["path"] for r in data["summary"]} >= set(PATHS):
            candidates.append((str(data.get("date", "")), path.stat().st_mtime, path))
    if not candidates:
        raise SystemExit(f"no icecast_side_by_side results with a summary in {RESULTS}")
    return max(candidates)[2]


def pick(summary: list[dict], path: str) -> dict | None:
    """The default row of `path` at the largest audience that kept up (else the largest)."""
    rows = [r for r in summary if r["path"] == path and "," not in r["row"]
            and "lever" not in r["row"]]
    if not rows:
        return None
    kept = [r for r in rows if r.get("kept_up")]
    if path == "icecast":  # the reference: its cost per listener is flat; the largest
        kept = rows
    return max(kept or rows, key=lambda r: r["listeners"])


def origin_model(summary: list[dict]) -> tuple[float, float]:
    """(the Space's production, % of a core; origin CPU % per origin request/s), from
    the default LL-HLS and LL-DASH rows of the same run: the DASH origin serves ~1
    request/s, the LL-HLS origin tens; the difference in origin CPU over the difference
    in requests/s is the cost of a request, and what remains at ~1 request/s is the
    production (mixing, encoding, packaging). Falls back to charging all of the
    measured origin CPU to serving when the difference is not positive."""
    pairs = []
    for hls in (r for r in summary if r["path"] == "ll-hls" and r["row"] == "Townhall (defaults)"):
        for d in summary:
            if d["path"] == "ll-dash" and d["listeners"] == hls["listeners"] \
                    and d["row"] == PATHS["ll-dash"]:
                pairs.append((hls, d))
    per_request = []
    for hls, d in pairs:
        extra_rps = hls["origin_requests_per_s"] - d["origin_requests_per_s"]
        extra_cpu = hls["origin_cpu_pct"] - d["origin_cpu_pct"]
        if extra_rps > 0 and extra_cpu > 0:
            per_request.append(extra_cpu / extra_rps)
    dash_rows = [d for _, d in pairs] or [r for r in summary if r["path"] == "ll-dash"]
    if not per_request or not dash_rows:
        return 0.0, math.nan
    cost = sorted(per_request)[len(per_request) // 2]
    production = sorted(d["origin_cpu_pct"] - d["origin_requests_per_s"] * cost
                        for d in dash_rows)[len(dash_rows) // 2]
    return max(0.0, production), cost


def newest_stream_results() -> Path | None:
    """The newest `benchmarks.nchan_fanout --townhall --json` results (the one-stream
    path: a real origin publishing to the shipped edge), if any."""
    paths = sorted(RESULTS.glob("nchan_fanout-townhall*.json"), key=lambda p: p.stat().st_mtime)
    return paths[-1] if paths else None


def stream_line(stream: dict, listeners: int, model: tuple[float, float]) -> dict:
    """The one-stream path's plan from its own run (Icecast beside it in that run): the
    largest audience; one request per listener per Space; one POST per chunk per edge."""
    production, per_request = model
    row = max(stream["rows"], key=lambda r: r["listeners"])
    edge_cost = row["stream_edge_cost"]
    machine_capacity = MACHINE_CORES * TARGET_UTILISATION
    machines = math.ceil(listeners * edge_cost / 1000 / 60 / machine_capacity)
    origin_rps = machines / dash.CHUNK_SECONDS  # a chunk per edge, ~1/s
    beacons = listeners / limits.BEACON_INTERVAL
    return {
        "path": "One stream via nginx + Nchan", "size": row["listeners"], "kept_up": True,
        "measured_at": row["stream"]["connected"],
        "cpu_s_per_1000_listener_min": row["stream_cost"],
        "edge_cpu_s_per_1000_listener_min": edge_cost,
        "ratio": row["stream_cost"] / row["icecast_cost"],
        "listeners_per_machine": machine_capacity / (edge_cost / 1000 / 60),
        "edge_machines": machines, "largest_measured": row["listeners"],
        "edge_machines_largest": machines,
        # One request per listener for the hour (a join), beside the others' steady rates.
        "requests_per_listener_s": 1 / (3600 * HOURS),
        "cdn_requests_per_hour": listeners,
        "cdn_bytes_per_hour": listeners * STREAM_BPS / 8 * 3600 * HOURS,
        "origin_requests_per_edge_s": 1 / dash.CHUNK_SECONDS,
        "origin_requests_per_s": origin_rps,
        "origin_cores": (production + origin_rps * per_request) / 100
        if not math.isnan(per_request) else math.nan,
        "origin_to_edge_bps": machines * STREAM_BPS,
        "beacons_per_s": beacons, "redis_round_trips_per_s": beacons * BEACON_REDIS_ROUND_TRIPS,
        "redis_lua_calls_per_s": beacons * BEACON_LUA_CALLS,
        "delay_p50": None, "delay_p95": None,
    }


def plan(results: dict, listeners: int) -> tuple[list[dict], dict[str, float]]:
    summary = results["summary"]
    production, per_request = origin_model(summary)
    beacons = listeners / limits.BEACON_INTERVAL
    lines = []
    for path, name in PATHS.items():
        row = pick(summary, path)
        if row is None:
            continue
        edge_s_per_listener_s = row["edge_cpu_s_per_1000_listener_min"] / 1000 / 60
        machine_capacity = MACHINE_CORES * TARGET_UTILISATION
        machines = math.ceil(listeners * edge_s_per_listener_s / machine_capacity)
        # The largest audience measured, had it kept up (a sensitivity figure).
        largest = max((r for r in summary if r["path"] == path and r["row"] == row["row"]),
                      key=lambda r: r["listeners"])
        machines_largest = math.ceil(listeners * largest["edge_cpu_s_per_1000_listener_min"]
                                     / 1000 / 60 / machine_capacity)
        requests_per_s = row["requests_per_listener_s"]
        townhall = path != "icecast"
        origin_rps = machines * row.get("origin_requests_per_s", 0.0) if townhall else 0.0
        if townhall and not math.isnan(per_request):
            origin_cores = (production + origin_rps * per_request) / 100
        else:
            origin_cores = math.nan
        lines.append({
            "path": name, "size": row["listeners"], "kept_up": row.get("kept_up"),
            # Icecast's row: the listeners it had (older runs: fewer than asked for).
            "measured_at": round(row.get("listeners_in_window") or row["listeners"]),
            "cpu_s_per_1000_listener_min": row["cpu_s_per_1000_listener_min"],
            "edge_cpu_s_per_1000_listener_min": row["edge_cpu_s_per_1000_listener_min"],
            "ratio": row["ratio"],
            "listeners_per_machine": machine_capacity / edge_s_per_listener_s,
            "edge_machines": machines,
            "largest_measured": largest["listeners"], "edge_machines_largest": machines_largest,
            "requests_per_listener_s": requests_per_s,
            "cdn_requests_per_hour": listeners * requests_per_s * 3600 * HOURS,
            "cdn_bytes_per_hour": listeners * STREAM_BPS / 8 * 3600 * HOURS,
            "origin_requests_per_edge_s": row.get("origin_requests_per_s", 0.0),
            "origin_requests_per_s": origin_rps,
            "origin_cores": origin_cores,
            "origin_to_edge_bps": machines * STREAM_BPS if townhall else STREAM_BPS,
            "beacons_per_s": beacons if townhall else 0.0,
            "redis_round_trips_per_s": beacons * BEACON_REDIS_ROUND_TRIPS if townhall else 0.0,
            "redis_lua_calls_per_s": beacons * BEACON_LUA_CALLS if townhall else 0.0,
            "delay_p50": row.get("delay_p50"), "delay_p95": row.get("delay_p95"),
        })
    return lines, {"production_pct": production, "origin_pct_per_request_s": per_request}


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def _n(value: float, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _si(value: float, unit: str) -> str:
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:,.1f} {prefix}{unit}"
    return f"{value:,.0f} {unit}".strip()


def markdown(results: dict, source: Path, lines: list[dict], model: dict[str, float],
             listeners: int, command: str) -> str:
    out = [
        "# Capacity plan: 1.3 million listeners of one Space for an hour",
        "",
        f"Generated by `{command}` from `{_shown(source)}` "
        f"(run {results.get('date', '?')}, commit {results.get('commit', '?')}, "
        f"arguments `{' '.join(results.get('arguments', []))}`); do not edit by hand.",
        "",
        f"Assumptions: {listeners:,} concurrent listeners for {HOURS:g} h of one Space; "
        f"edge machines of {MACHINE_CORES} cores run at {TARGET_UTILISATION:.0%} CPU; the "
        "edge's CPU per listener-minute is the benchmark's (loopback, no TLS) at the "
        "largest audience that kept up, scaled linearly past it; edges fetch straight "
        "from the origins (no shield tier); a 64 kb/s stream per listener "
        "(container overhead left out).",
        "",
        "| path | measured at (listeners) | edge CPU-s per 1,000 listener-min | "
        "server CPU × Icecast "
        "(edge + origin, same run) | listeners per edge machine | **edge machines** | "
        "requests per listener-s | **CDN requests per hour** | CDN bytes per hour | "
        "origin requests/s | origin CPU (cores) | origin → edge bandwidth | "
        "audience beacons/s (Redis round trips/s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for line in lines:
        townhall = "Icecast" not in line["path"]
        beacons = f"{_n(line['beacons_per_s'])} ({_n(line['redis_round_trips_per_s'])})"
        out.append(
            f"| {line['path']} | {line['measured_at']:,}"
            f"{'' if line['kept_up'] else ' (did not keep up)'} | "
            f"{line['edge_cpu_s_per_1000_listener_min']:.2f} | {line['ratio']:.2f} | "
            f"{_n(line['listeners_per_machine'])} | **{line['edge_machines']:,}** | "
            f"{line['requests_per_listener_s']:.3f} | "
            f"**{_si(line['cdn_requests_per_hour'], '')}** | "
            f"{_si(line['cdn_bytes_per_hour'], 'B')} | "
            f"{_n(line['origin_requests_per_s']) if townhall else '– (one source)'} | "
            f"{_n(line['origin_cores'], 2) if townhall else '–'} | "
            f"{_si(line['origin_to_edge_bps'], 'b/s')}"
            f"{'' if townhall else ' (a relay tree)'} | "
            f"{beacons if townhall else '– (counted by Icecast)'} |")
    for line in lines:
        if line["largest_measured"] != line["size"]:
            out += ["", f"{line['path']}: at its largest measured audience "
                    f"({line['largest_measured']:,}, where it did not keep up on the shared "
                    f"machine) the edge cost per listener gives "
                    f"{line['edge_machines_largest']:,} edge machines instead."]
    out += ["", "CPU is not the only limit of an edge machine: its listeners' audio leaves "
            "through its network card. At the CPU's count of listeners per machine that is "
            + "; ".join(f"{line['path']}: {_si(line['listeners_per_machine'] * STREAM_BPS, 'b/s')}"
                        for line in lines)
            + " (at 10 Gb/s a machine carries ~156,000 listeners of 64 kb/s)."]
    out += [
        "",
        "How each column is computed:",
        "",
        "* One stream via nginx + Nchan: from the newest `benchmarks.nchan_fanout --townhall` "
        "run (its own Icecast beside it: the × Icecast column is that run's), at its largest "
        "audience. Its requests: one per listener for the whole Space (the column shows "
        "1/3,600 per second: one an hour); its origin requests: one POST per 1.024 s chunk "
        "per edge, priced like any origin request. A CDN cannot carry this path (it needs a "
        "push fan-out): its edges are Townhall's nginx edges, and \"CDN requests\" are "
        "the joins they take.",
        f"* edge machines = listeners × edge CPU-s per listener-second / ({MACHINE_CORES} "
        f"cores × {TARGET_UTILISATION:.0%}); the edge alone (nginx / varnishd / icecast2), "
        "as the origin's work does not grow with listeners.",
        "* CDN requests per hour = listeners × requests per listener-second × 3,600 (the "
        "benchmark's steady window: joining requests left out). CDN bytes = listeners × "
        f"{STREAM_BPS // 1000} kb/s × 3,600 s.",
        "* origin requests/s = edge machines × what one edge sent its origin per second in "
        "the benchmark (LL-HLS: parts and blocking playlist reloads the cache lock did not "
        "coalesce; LL-DASH: one fetch per segment, the MPD at most once a second (max-age=1), "
        "and, in runs before bf3b357, every joining player's `/hls/clock`, which the edge "
        "then passed; it answers the clock itself now).",
        f"* origin CPU = the Space's production ({model['production_pct']:.1f} % of a core) + "
        f"origin requests/s × {model['origin_pct_per_request_s']:.3f} % of a core per "
        "request/s; both from the same run: the LL-HLS origin's extra CPU over the LL-DASH "
        "origin's, divided by its extra requests/s (a streamed DASH segment is priced like "
        "a part request: an estimate).",
        f"* origin → edge = edge machines × {STREAM_BPS // 1000} kb/s (each edge fetches "
        "each part or segment once; manifests and playlists left out).",
        f"* audience beacons: one per listener per {limits.BEACON_INTERVAL:g} s "
        f"(limits.BEACON_INTERVAL), {BEACON_REDIS_ROUND_TRIPS} Redis round trips each "
        f"(~{BEACON_LUA_CALLS} commands inside the scripts: "
        f"{_n(lines[0]['redis_lua_calls_per_s'] if lines else 0)} commands/s), the same on "
        "both Townhall paths. They all touch the one Space's keys (a sorted set of every "
        "listener, trimmed on each beacon), so a Redis cluster cannot spread them: one "
        "Redis core carries the Space's whole audience.",
        f"* joining (not in the table): if the audience arrives over {JOIN_MINUTES} minutes, "
        f"{_n(listeners / (JOIN_MINUTES * 60))} players join per second; on LL-DASH the "
        "edge answers each one's `/hls/clock` itself (no origin request), and the manifest "
        "and init segment come from its cache; each first beacon adds a fourth Redis round "
        "trip (the new-listener limit).",
    ]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, help="results JSON (default: the newest)")
    parser.add_argument("--listeners", type=int, default=LISTENERS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    source = (args.results or newest_results()).resolve()
    results = json.loads(source.read_text())
    lines, model = plan(results, args.listeners)
    stream_source = newest_stream_results()
    if stream_source is not None:
        stream = json.loads(stream_source.read_text())
        lines.insert(0, stream_line(stream, args.listeners, (model["production_pct"],
                                                              model["origin_pct_per_request_s"])))
    command = ".venv/bin/python -m benchmarks.capacity_plan"
    if args.results:
        command += f" --results {_shown(source)}"
    if args.listeners != LISTENERS:
        command += f" --listeners {args.listeners}"
    text = markdown(results, source, lines, model, args.listeners, command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"(written to {args.out}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
          f"DASH segments of {dash.SEGMENT_SECONDS:.3f} s)")


if __name__ == "__main__":
    main()
