"""After the host ends a Space its recording is a VOD playlist of the whole Space."""

from __future__ import annotations

from datetime import datetime

import httpx
import m3u8

from townhall.testing.audio import dominant_frequency
from townhall.testing.servers import Server, live_space, signed_in_client, stage
from townhall.tools.clients.hls import HlsReader, decode_fmp4
from townhall.tools.clients.whip import SyntheticTrack, WhipPublisher, sine

SEGMENT_SECONDS = 2.048


async def test_replay_is_the_whole_space(server: Server) -> None:
    host = signed_in_client(server.base_url, "rphost")
    space = live_space(host, "Replay")
    creds = stage(host, space["id"])
    speaker = WhipPublisher(creds["whip_url"], creds["token"], SyntheticTrack(sine(660)))
    await speaker.start()
    async with httpx.AsyncClient() as client:
        reader = HlsReader(space["hls_url"], client)
        await reader.start(parts_back=0)
        await reader.read_seconds(6.0, timeout=30)  # about three segments live
    await speaker.stop()
    ended = host.post(f"/api/spaces/{space['id']}/end")
    assert ended.status_code == 200, ended.text
    ended = ended.json()
    assert ended["state"] == "ended" and ended["replay_url"]

    # The live playlist is final too.
    live = httpx.get(space["hls_url"])
    assert m3u8.loads(live.text).is_endlist

    response = httpx.get(ended["replay_url"])
    assert response.status_code == 200
    replay = m3u8.loads(response.text)
    assert replay.is_endlist and replay.playlist_type == "vod"
    replay_seconds = sum(s.duration for s in replay.segments)
    live_seconds = (
        datetime.fromisoformat(ended["ended_at"]) - datetime.fromisoformat(ended["started_at"])
    ).total_seconds()
    assert abs(replay_seconds - live_seconds) <= SEGMENT_SECONDS, (replay_seconds, live_seconds)

    # Every segment is there and the whole replay decodes, with the speaker in it.
    base = ended["replay_url"].rsplit("/", 1)[0]
    data = httpx.get(f"{base}/{replay.segment_map[0].uri}").content
    for segment in replay.segments:
        got = httpx.get(f"{base}/{segment.uri}")
        assert got.status_code == 200, segment.uri
        data += got.content
    pcm, frames = decode_fmp4(data)
    assert abs(len(pcm) / 48000 - replay_seconds) < 0.1
    assert abs(dominant_frequency(pcm) - 660) <= 5

    # Speaking in an ended Space is refused.
    assert host.post(f"/api/spaces/{space['id']}/stage").status_code == 409
