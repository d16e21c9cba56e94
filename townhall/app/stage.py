"""Getting on air: a WHIP offer checked and answered under the Space's lock.

The Room is read and the peer connection registered while the Space's lock is held, so
a remove, mute or demotion decided meanwhile is carried out either before (the offer is
refused, or starts muted) or after (the new connection is closed or muted with the
others): never between. Offers from one person to several Spaces at once are counted
by the WHIP endpoint before it awaits anything (townhall/media/webrtc/whip.py).
"""

from __future__ import annotations


from townhall.app.locks import SpaceLocks
from townhall.app.media_host import MediaElsewhere, MediaHost
from townhall.backends.ratelimit import RateLimiter
from townhall.domain import Room
from townhall.domain.errors import INVALID_TOKEN, Forbidden, Unauthorized
from townhall.media.webrtc.whip import WhipEndpoint, WhipResource
from townhall.store import rooms as room_store
from townhall.store.db import Database, hash_token
from townhall.store.models import WhipToken
from townhall import threads

# Bearer tokens are 43 characters; anything far longer is not ours.
MAX_TOKEN_LENGTH = 256


class Stage:
    def __init__(self, db: Database, locks: SpaceLocks, host: MediaHost, whip: WhipEndpoint,
                 offers: RateLimiter) -> None:
        self.db = db
        self.locks = locks
        self.host = host
        self.whip = whip
        self.offers = offers

    async def speaker(self, space_id: str, authorization: str) -> int:
        """Who the `Authorization: Bearer` token is for: 404 for no such Space first,
        then 401 (no, unknown or revoked token) or 403 (another Space's)."""
        return await threads.run(threads.DATABASE, self._speaker, space_id, authorization)

    def _speaker(self, space_id: str, authorization: str) -> int:
        with self.db.session() as db:
            room_store.load(db, space_id)  # 404 before anything else
            scheme, _, token = authorization.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise Unauthorized("WHIP needs 'Authorization: Bearer <token>'")
            if len(token) > MAX_TOKEN_LENGTH:
                raise Unauthorized("invalid bearer token", INVALID_TOKEN)
            row = db.get(WhipToken, hash_token(token))
            if row is None or row.revoked:
                raise Unauthorized("invalid or revoked bearer token", INVALID_TOKEN)
            if row.space_id != space_id:
                raise Forbidden("this token is for another Space")
            return row.user_id

    async def publish(self, space_id: str, user_id: int, offer: str) -> tuple[WhipResource, str]:
        """Answer the offer; MediaElsewhere (cluster) when another node mixes the Space."""
        async with self.locks.hold(space_id):
            room = await self._room(space_id)
            room.check_can_publish(user_id)
            # Mixed by another node: the offer goes there, and so does its admission (a
            # full node must not refuse a speaker it would not mix).
            owner = await self.host.mixed_elsewhere(space_id)
            if owner is not None:
                raise MediaElsewhere(owner)
            self.host.admit_speaker(space_id, user_id)
            media = self.host.media.get(space_id) or await self.host.start_media(space_id)
            # Checked again with the media running (no await until the WHIP endpoint
            # reserves the speaker's place, so offers at once cannot all slip in).
            self.host.admit_speaker(space_id, user_id)
            return await self.whip.publish(media, user_id, offer, muted=user_id in room.muted)

    async def _room(self, space_id: str) -> Room:
        def read() -> Room:
            with self.db.session() as db:
                return room_store.load(db, space_id)[1]

        return await threads.run(threads.DATABASE, read)
