"""Speaker -> speaker latency through the mix-minus, on loopback.

Speaker A (aiortc WHIP publisher) sends silence with a short tone burst every second
and records when each burst's first frame went to its encoder. Speaker B (a second
publisher, invited by the host) records the mix-minus it receives with arrival times.
Latency per marker = arrival of the frame holding the burst's onset (+ the onset's
offset inside that frame) - send time. Both publishers live in this process; the
server is a separate `townhall serve` process.

    .venv/bin/python -m benchmarks.speaker_latency [--markers 30]
"""

from __future__ import annotations

import argparse
import asyncio

import numpy as np

from benchmarks._common import (
    RATE,
    Deadline,
    invite_speaker,
    live_space,
    log,
    print_table,
    running_server,
    signed_in_client,
    stage,
    summary,
)
from benchmarks._prefetch import AIORTC_DEFAULT, set_audio_prefetch
from townhall import limits
from townhall.testing.audio import MarkerTrain, marker_onsets

CLIENT_PREFETCH = 1
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine

TARGET_P50_MS = 150.0
MAX_MARKERS = 60
TIME_LIMIT = 120.0  # seconds for the whole run, server start included


def received_onsets(b: WhipPublisher, markers: MarkerTrain) -> list[tuple[int, float]]:
    """(marker index, latency s) for every marker onset in what B received so far."""
    chunks, times = list(b.received), list(b.received_times)
    if not chunks:
        return []
    starts = np.cumsum([0] + [c.shape[0] for c in chunks[:-1]])
    pcm = np.concatenate(chunks)
    results = []
    for onset, tag in marker_onsets(pcm):
        k = int(np.searchsorted(starts, onset, side="right") - 1)
        arrival = times[k] + (onset - starts[k]) / RATE
        matched = markers.match(arrival, tag)
        if matched is not None:
            results.append(matched)
    return results


async def measure(base_url: str, count: int, deadline: Deadline) -> tuple[list[float], int]:
    host = signed_in_client(base_url, "lathost")
    guest = signed_in_client(base_url, "latguest")
    space = live_space(host, "speaker latency")
    invite_speaker(host, guest, space["id"])
    a_creds, b_creds = stage(host, space["id"]), stage(guest, space["id"])

    markers = MarkerTrain(count=count, period=1.0, delay=2.0)
    track_a = SyntheticTrack(markers.source)
    track_a.on_frame = markers.on_frame
    a = WhipPublisher(a_creds["whip_url"], a_creds["token"], track_a)
    b = WhipPublisher(b_creds["whip_url"], b_creds["token"], SyntheticTrack(sine(440, 0.0)))
    try:
        # B listens before A's first marker (2 s after A's first frame) is sent.
        await b.start()
        await b.wait_received(0.5, timeout=min(20, deadline.left()))
        log("speaker B connected and receiving its mix-minus")
        await a.start()
        log(f"speaker A connected; {count} markers, one per second, from t=2 s")
        reported = 0
        while len(markers.sent) < count or b.received_times[-1] < markers.last_sent + 1.0:
            deadline.check(f"waiting for markers ({len(markers.sent)}/{count} sent)")
            await asyncio.sleep(1.0)
            results = received_onsets(b, markers)
            for index, latency in results[reported:]:
                log(f"marker {index:2d}: {latency * 1000:6.1f} ms")
            reported = len(results)
        results = received_onsets(b, markers)
    finally:
        await a.stop()
        await b.stop()
    return [latency for _, latency in results], len(markers.sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markers", type=int, default=30, help=f"markers to send (max {MAX_MARKERS})")
    # The receiving speaker stands in for a browser, whose adaptive jitter buffer (NetEq)
    # holds a frame or two on a clean loopback path, not aiortc's fixed 4.
    parser.add_argument("--client-prefetch", type=int, metavar="N", default=CLIENT_PREFETCH,
                        help="aiortc audio jitter-buffer prefetch in the publishers "
                             f"(default {CLIENT_PREFETCH}, like a browser; aiortc's own is {AIORTC_DEFAULT})")
    parser.add_argument("--server-prefetch", type=int, metavar="N",
                        help="experiment: the same in the server process (patched at start)")
    args = parser.parse_args()
    count = max(1, min(args.markers, MAX_MARKERS))
    set_audio_prefetch(args.client_prefetch)
    server_prefetch = args.server_prefetch or limits.AIORTC_AUDIO_PREFETCH
    prefetch = f"aiortc audio prefetch: server {server_prefetch}, client {args.client_prefetch}"
    log(prefetch)
    deadline = Deadline(TIME_LIMIT)
    with running_server("serve", audio_prefetch=args.server_prefetch) as server:
        latencies, sent = asyncio.run(measure(server.base_url, count, deadline))
    s = summary([x * 1000 for x in latencies])
    print(f"\nSpeaker -> speaker latency (mix-minus, loopback), {s['n']} of {sent} markers heard; {prefetch}")
    print_table(
        ["path", "n", "min ms", "p50 ms", "p95 ms", "max ms", "target p50"],
        [["A -> server mix-minus -> B", s["n"], s["min"], s["p50"], s["p95"], s["max"],
          f"<= {TARGET_P50_MS:.0f} ms ({'met' if s['p50'] <= TARGET_P50_MS else 'NOT met'})"]],
    )


if __name__ == "__main__":
    main()
