"""Collecting the incident timeline: which requests count for a Space, and the edge's
access log read into the same figures (townhall/app/incidents.py)."""

from __future__ import annotations

import json
from pathlib import Path

from townhall.app.incidents import attribute, edge_log_report, parse_edge_line
from townhall.cli import main


def test_requests_are_attributed_to_their_space_and_joins() -> None:
    assert attribute("/hls/abc/live.m3u8", "", 200) == attribute("/hls/abc/live.m3u8", "", 200)
    fresh_fail = attribute("/hls/abc/live.m3u8", "", 503)
    assert fresh_fail and fresh_fail.join_attempt and not fresh_fail.join_success
    blocking = attribute("/hls/abc/live.m3u8", "_HLS_msn=4&_HLS_part=1", 200)
    assert blocking and not blocking.timed and not blocking.join_attempt
    init = attribute("/hls/abc/t/123.sig/init.mp4", "", 200)
    assert init and (init.space_id, init.join_attempt, init.join_success) == ("abc", True, True)
    assert attribute("/api/spaces/abc/reactions", "", 429).space_id == "abc"  # type: ignore[union-attr]
    assert attribute("/api/spaces", "", 200) is None
    assert attribute("/hls/not%20an%20id/live.m3u8", "", 200) is None


def edge_line(at: float, address: str, uri: str, status: int, cache: str = "MISS",
              seconds: float = 0.01) -> str:
    return (f"{at:.3f}\t{address}\tGET\t{uri}\t{status}\tcache={cache}\torigin=127.0.0.1:9\t"
            f"origin_status={status}\t{seconds:.3f}\n")


def test_edge_log_lines_become_a_timeline(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert parse_edge_line("garbage") is None
    parsed = parse_edge_line(edge_line(60.5, "203.0.113.7", "/hls/sp/init.mp4?x=1", 200, "HIT"))
    assert parsed == (60.5, "203.0.113.7", "/hls/sp/init.mp4", "x=1", 200, "HIT", 0.01)
    lines = []
    for i in range(600):  # minute 1: a spread join storm, half served from the cache
        lines.append(edge_line(60 + i * 0.05, f"10.{i // 250}.{i % 250}.1", "/hls/sp/init.mp4",
                               200, "HIT" if i % 2 else "MISS"))
    for i in range(600):  # minute 2: the origin fell over (502 from the edge)
        lines.append(edge_line(120 + i * 0.05, f"10.{i // 250}.{i % 250}.1",
                               "/hls/sp/live.m3u8", 502, "-", 3.0))
    log = tmp_path / "access.log"
    log.write_text("".join(lines))
    report = json.loads(edge_log_report(log, 60.0))
    first, second = report["spaces"]["sp"]
    assert first["source"] == "edge" and first["cache_hit_ratio"] == 0.5
    assert first["verdict"] == "healthy" and first["networks"] == 600
    assert (second["verdict"], second["rule"]) == ("overloaded", "capacity")
    assert second["join_attempts"] == 600 and second["join_successes"] == 0
    main(["incidents", "ingest", "--edge-log", str(log), "--space", "sp"])
    assert json.loads(capsys.readouterr().out)["spaces"]["sp"][1]["verdict"] == "overloaded"
