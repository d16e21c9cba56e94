"""Two speakers over WHIP hear each other and not themselves; the program has both."""

from __future__ import annotations

import httpx

from townhall.testing.audio import band_level_db, dominant_frequency
from townhall.testing.servers import Server, live_space, signed_in_client, two_tone_speakers
from townhall.tools.clients.hls import HlsReader

# A tone "present" carries most of the energy; "absent" is at least 30 dB below it.
PRESENT_DB = -3.0
ABSENT_DB = -30.0


async def test_each_speaker_hears_the_other_and_not_themselves(server: Server) -> None:
    host = signed_in_client(server.base_url, "mmhost")
    guest = signed_in_client(server.base_url, "mmguest")
    space = live_space(host, "Mix-minus")
    a, b = two_tone_speakers(host, guest, space["id"])
    await a.start()
    await b.start()
    try:
        # Let both paths settle, then judge the last 2 s each speaker received.
        await a.wait_received(4.0, timeout=20)
        await b.wait_received(4.0, timeout=20)
        heard_by_a, heard_by_b = a.received_pcm(2.0), b.received_pcm(2.0)
        assert band_level_db(heard_by_a, 880) > PRESENT_DB
        assert band_level_db(heard_by_a, 440) < ABSENT_DB
        assert band_level_db(heard_by_b, 440) > PRESENT_DB
        assert band_level_db(heard_by_b, 880) < ABSENT_DB
        assert abs(dominant_frequency(heard_by_a) - 880) <= 5
        assert abs(dominant_frequency(heard_by_b) - 440) <= 5

        async with httpx.AsyncClient() as client:
            reader = HlsReader(space["hls_url"], client)
            await reader.start(parts_back=0)
            await reader.read_seconds(3.0, timeout=20)
        program, _ = reader.decode()
        program = program[-2 * 48000 :]
        assert band_level_db(program, 440) > -6
        assert band_level_db(program, 880) > -6

        speakers = host.get(f"/api/spaces/{space['id']}").json()["speakers"]
        assert [s["on_stage"] for s in speakers] == [True, True]
    finally:
        await a.stop()
        await b.stop()
