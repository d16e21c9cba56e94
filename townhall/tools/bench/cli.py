"""The `townhall bench ...` subcommands (wired into townhall/cli.py by add_parser)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from townhall.tools.bench import MAX_DURATION, MAX_JOIN_WINDOW, MAX_JOINS, MAX_LISTENERS, MAX_SPEAKERS
from townhall.tools.bench.common import BenchError, clean, print_progress, write_json


def add_parser(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser(
        "bench", help="launch pre-flight: simulated listeners, a join storm, speakers",
        description="Load a Townhall server you run (only the URL you give) and report "
                    "what listeners and speakers would get.")
    kinds = bench.add_subparsers(dest="bench_command", required=True)

    listeners = kinds.add_parser(
        "listeners", help="N low-latency HLS players: time to first audio, stalls, latency")
    listeners.add_argument("url", help="a Space's HLS playlist URL (…/hls/<id>/live.m3u8)")
    listeners.add_argument("--count", type=int, required=True,
                           help=f"players (1..{MAX_LISTENERS})")
    listeners.add_argument("--duration", type=float, required=True,
                           help=f"seconds the run lasts (1..{MAX_DURATION:g})")
    listeners.add_argument("--ramp", type=float,
                           help="seconds over which players start (default min(5, duration/4))")
    listeners.add_argument("--connections", type=int,
                           help="HTTP connections in all (default one per player)")
    listeners.add_argument("--json", type=Path, metavar="FILE", help="write results as JSON")
    listeners.add_argument("--no-beacons", action="store_true",
                           help="do not send audience beacons (players normally do)")
    listeners.set_defaults(run_bench=_listeners)

    storm = kinds.add_parser(
        "join-storm", help="N joins spread over S seconds: success rate, time to first audio")
    storm.add_argument("url", help="a Space's HLS playlist URL")
    storm.add_argument("--count", type=int, required=True, help=f"joins (1..{MAX_JOINS})")
    storm.add_argument("--within", type=float, required=True,
                       help=f"seconds the joins are spread over (0..{MAX_JOIN_WINDOW:g})")
    storm.add_argument("--reuse-connections", action="store_true",
                       help="joins share keep-alive connections (default: a new one each)")
    storm.add_argument("--connections", type=int,
                       help="HTTP connections open at once at most (default one per join)")
    storm.add_argument("--json", type=Path, metavar="FILE", help="write results as JSON")
    storm.set_defaults(run_bench=_join_storm)

    speakers = kinds.add_parser(
        "speakers", help="K speakers publish tones over WHIP into a new Space")
    speakers.add_argument("base_url", help="the server's base URL, e.g. https://spaces.example")
    speakers.add_argument("--count", type=int, required=True,
                          help=f"speakers including the host (1..{MAX_SPEAKERS})")
    speakers.add_argument("--duration", type=float, required=True,
                          help=f"seconds all speakers publish (1..{MAX_DURATION:g})")
    speakers.add_argument("--username", required=True, help="an existing account, the host")
    speakers.add_argument("--password", required=True)
    speakers.add_argument(
        "--ice-host-addresses", default="127.0.0.1",
        help="comma list of this machine's addresses offered as ICE candidates "
             "(default 127.0.0.1; 'auto' = every non-loopback interface)")
    speakers.add_argument("--json", type=Path, metavar="FILE", help="write results as JSON")
    speakers.set_defaults(run_bench=_speakers)


def run(args: argparse.Namespace) -> int:
    """Run the chosen bench; 0 when it ran (whatever it found), 2 when it could not."""
    try:
        result, text = asyncio.run(args.run_bench(args))
    except BenchError as exc:
        print(f"townhall bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(text, flush=True)
    write_json(args.json, result)
    if args.json is not None:
        print(f"results: {args.json}")
    return 0


async def _listeners(args: argparse.Namespace) -> tuple[dict, str]:
    from townhall.tools.bench.listeners import ListenersRun, summary_text

    bench = ListenersRun(args.url, args.count, args.duration, args.ramp, args.connections,
                         progress=print_progress, beacons=not args.no_beacons)
    result = await bench.run()
    return result, summary_text(result, bench.health)


async def _join_storm(args: argparse.Namespace) -> tuple[dict, str]:
    from townhall.tools.bench.join_storm import JoinStorm, summary_text

    bench = JoinStorm(args.url, args.count, args.within, args.reuse_connections,
                      args.connections, progress=print_progress)
    result = await bench.run()
    return result, summary_text(result, bench.health)


async def _speakers(args: argparse.Namespace) -> tuple[dict, str]:
    from townhall.tools.bench.speakers import SpeakersRun, summary_text

    addresses = None if args.ice_host_addresses == "auto" else tuple(
        a.strip() for a in args.ice_host_addresses.split(",") if a.strip())
    bench = SpeakersRun(args.base_url, args.count, args.duration, args.username,
                        args.password, addresses, progress=print_progress)
    result = await bench.run()
    return result, summary_text(result)


def dumps(result: dict) -> str:
    return json.dumps(clean(result), indent=2)
