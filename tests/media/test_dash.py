"""The LL-DASH view of a live Space (townhall/media/dash.py): names, the HLS pieces of a
DASH segment, and the manifest a DASH player reads."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from townhall import limits
from townhall.media import dash
from townhall.media.llhls import part_name, segment_name

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
NOW = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)


def test_segment_names_round_trip_and_junk_is_refused() -> None:
    assert dash.segment_file(9, 3) == "d9-3.m4s"
    assert dash.parse_segment_file("d9-3.m4s") == (9, 3)
    assert dash.parse_segment_file(dash.segment_file(dash.Run(0, NOW), 0)) == (0, 0)
    for junk in ("d09-3.m4s", "d9-03.m4s", "d9-3.m4s.tmp", "d-3.m4s", "seg9.m4s",
                 "d9-3", "d1234567890-1.m4s", "d1-123456789.m4s", "../d9-3.m4s"):
        assert dash.parse_segment_file(junk) is None, junk


def test_a_dash_segment_is_whole_hls_segments_of_its_run() -> None:
    per = dash.HLS_SEGMENTS_PER_SEGMENT
    assert dash.SEGMENT_SECONDS == per * limits.PARTS_PER_SEGMENT * dash.PART_SAMPLES / limits.SAMPLE_RATE
    pieces = dash.pieces(9, 2)
    assert [p.msn for p in pieces] == list(range(9 + 2 * per, 9 + 3 * per))
    assert pieces[0].segment == segment_name(9 + 2 * per)
    assert pieces[0].parts == tuple(part_name(9 + 2 * per, i) for i in range(limits.PARTS_PER_SEGMENT))
    assert dash.number_of(9, 9) == 0
    assert dash.number_of(9, 9 + per - 1) == 0
    assert dash.number_of(9, 9 + per) == 1
    # A chunk is whole parts, and a segment whole chunks.
    assert dash.PARTS_PER_SEGMENT % limits.DASH_PARTS_PER_CHUNK == 0
    assert abs(dash.CHUNK_SECONDS - 1.024) < 1e-9


def test_runs_are_kept_as_json_newest_last_and_bounded() -> None:
    runs = [dash.Run(i * 10, NOW + timedelta(minutes=i)) for i in range(4)]
    loaded = dash.load_runs(dash.dump_runs(runs))
    assert loaded == runs[-dash.MAX_RUNS:]
    assert dash.load_runs(None) == [] and dash.load_runs(b"") == []


def test_the_manifest_has_a_period_per_run_found_by_the_wall_clock() -> None:
    first = dash.Run(0, NOW - timedelta(minutes=5))
    second = dash.Run(41, NOW - timedelta(seconds=30))
    root = ET.fromstring(dash.render_manifest([first, second], NOW))
    assert root.get("type") == "dynamic"
    assert root.get("availabilityStartTime") == "1970-01-01T00:00:00Z"
    assert root.get("publishTime") == "2026-12-03T18:00:00.000Z"
    assert root.get("minimumUpdatePeriod") == f"PT{limits.DASH_MANIFEST_REFRESH_SECONDS}S"
    periods = root.findall("d:Period", NS)
    assert [p.get("id") for p in periods] == ["run-0", "run-41"]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for period, run in zip(periods, (first, second)):
        start = float(period.get("start").removeprefix("PT").removesuffix("S"))
        assert abs(start - (run.start - epoch).total_seconds()) < 0.001
        template = period.find("d:AdaptationSet/d:Representation/d:SegmentTemplate", NS)
        assert template.get("media") == f"d{run.first_msn}-$Number$.m4s"
        assert template.get("initialization") == "init.mp4"
        assert int(template.get("timescale")) == limits.SAMPLE_RATE
        assert int(template.get("duration")) == dash.SEGMENT_SAMPLES
        assert template.get("startNumber") == "0"
        # Available one chunk after it starts, then streamed: low-latency DASH.
        assert template.get("availabilityTimeComplete") == "false"
        ato = float(template.get("availabilityTimeOffset"))
        assert abs(dash.SEGMENT_SECONDS - ato - dash.CHUNK_SECONDS) < 0.001
    latency = root.find("d:ServiceDescription/d:Latency", NS)
    assert int(latency.get("target")) == round(limits.DASH_TARGET_LATENCY_SECONDS * 1000)
    timing = root.find("d:UTCTiming", NS)
    assert timing.get("value") == dash.CLOCK_PATH
    assert timing.get("schemeIdUri") == "urn:mpeg:dash:utc:http-iso:2014"


def test_only_the_newest_runs_are_listed() -> None:
    runs = [dash.Run(i * 10, NOW - timedelta(minutes=10 - i)) for i in range(5)]
    root = ET.fromstring(dash.render_manifest(runs, NOW))
    assert [p.get("id") for p in root.findall("d:Period", NS)] == ["run-30", "run-40"]


def test_an_ended_space_says_where_its_presentation_ends_and_asks_no_updates() -> None:
    run = dash.Run(8, NOW - timedelta(minutes=1))
    lasted = dash.ended_seconds(run, 8 + 5, 2)  # 5 whole HLS segments and 3 parts
    assert abs(lasted - (5 * limits.PARTS_PER_SEGMENT + 3) * dash.PART_SAMPLES / limits.SAMPLE_RATE) < 1e-9
    root = ET.fromstring(dash.render_manifest([run], NOW, ended_after=lasted))
    assert root.get("minimumUpdatePeriod") is None
    end = float(root.get("mediaPresentationDuration").removeprefix("PT").removesuffix("S"))
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert abs(end - ((run.start - epoch).total_seconds() + lasted)) < 0.001
