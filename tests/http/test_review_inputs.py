"""Malformed Space ids never reach the database (PostgreSQL refuses NUL in text: a 500)."""

from __future__ import annotations

from unittest.mock import MagicMock

import httpx
import pytest

from townhall.testing.servers import Server
from townhall.store import rooms as room_store
from townhall.domain.errors import NotFound


@pytest.mark.parametrize("space_id", ["\x00", "a\x00b", "../x", "a" * 17, "", "é"])
def test_a_malformed_space_id_is_not_looked_up(space_id: str) -> None:
    db = MagicMock()
    with pytest.raises(NotFound):
        room_store.load(db, space_id)
    db.scalar.assert_not_called()


@pytest.mark.parametrize("path", ["/api/spaces/%00", "/api/spaces/%00/playback", "/s/%00",
                                  "/api/spaces/a%00b/audience", "/api/spaces/%00/calendar.ics"])
def test_a_nul_in_a_space_id_is_a_404(server: Server, path: str) -> None:
    response = httpx.get(f"{server.base_url}{path}")
    assert response.status_code == 404
