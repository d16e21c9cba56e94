"""/metrics reports what is happening: speakers, parts, mixer health, rejections."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from townhall.testing.servers import Server, live_space, signed_in_client, stage
from townhall import limits
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{server.base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def test_metrics_follow_a_live_space(server: Server) -> None:
    host = signed_in_client(server.base_url, "methost")
    space = live_space(host, "Metrics")
    label = (("space", space["id"]),)
    creds = stage(host, space["id"])
    speaker = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(440)))
    await speaker.start()
    try:
        await speaker.wait_received(0.5, timeout=10)
        first = scrape(server)
        assert first[("townhall_space_speakers", label)] == 1
        await speaker.wait_received(1.0, timeout=10)
        second = scrape(server)
        assert second[("townhall_space_parts_total", label)] > first[("townhall_space_parts_total", label)]
        assert second[("townhall_mixer_ticks_total", label)] > first[("townhall_mixer_ticks_total", label)]
        # A healthy mixer on an idle machine is rarely late; lateness is tracked, though.
        assert ("townhall_mixer_late_ticks_total", label) in second
        assert second[("townhall_encode_seconds_total", label)] > 0
        assert second[("townhall_recording_errors_total", label)] == 0
    finally:
        await speaker.stop()

    for _ in range(limits.REACTION_BURST + 2):
        host.post(f"/api/spaces/{space['id']}/reactions", json={"emoji": "👏"})
    after = scrape(server)
    assert after[("townhall_rate_limited_requests_total", (("limit", "reactions"),))] >= 1
    assert after[("townhall_client_errors_total", (("status", "429"),))] >= 1
    host.post(f"/api/spaces/{space['id']}/end")
    assert ("townhall_space_parts_total", label) not in scrape(server)  # ended: gone


def test_health(server: Server) -> None:
    body = httpx.get(f"{server.base_url}/healthz").json()
    assert body["status"] == "ok" and body["live_spaces"] >= 1  # the demo Space
