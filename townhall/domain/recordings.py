"""Replays, clips, trims and retention: the rules. Decisions only, no I/O.

Times of a recording are seconds on its own timeline (townhall/media/export.py): from
the first recorded audio, the segments back to back. Clips and trims are stretches of
it; a trim is non-destructive (what lies outside it is left out of the replay, the
download and the feed, and comes back when the host widens the trim again).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from townhall import limits
from townhall.domain.errors import BadRequest, Conflict, Forbidden, Gone, Unauthorized
from townhall.domain.room import Room, SpaceState

# Codes a page acts on.
RECORDING_DELETED = "recording_deleted"  # the host deleted it, or it expired
NOT_RECORDED = "not_recorded"  # nothing recorded (yet) where a clip or trim asks
NOT_YOURS = "not_yours"  # a clip only its maker or the Space's host may delete


@dataclass(frozen=True)
class Trim:
    start: float = 0.0
    end: float | None = None  # None: to the end of the recording

    def bounds(self, recorded: float) -> tuple[float, float]:
        end = recorded if self.end is None else min(self.end, recorded)
        return min(self.start, end), end


def recording_actions(room: Room, viewer: int | None, available: bool) -> list[str]:
    """What `viewer` may do with this Space's recording now (the page's buttons)."""
    if not available or not room.may("listen", viewer):
        return []
    can = []
    if viewer is not None:
        can.append("clip")
    if room.state == SpaceState.ENDED:
        can.append("download")
        if viewer == room.host_id:
            can += ["trim", "delete_recording"]
    elif room.state != SpaceState.LIVE:
        return []
    return sorted(can)


def check_may_clip(room: Room, viewer: int | None) -> None:
    """Anyone who may listen, signed in (a clip has a maker), while live or after."""
    room.authorize("listen", viewer)
    if viewer is None:
        raise Unauthorized("sign in to make a clip")
    if room.state not in (SpaceState.LIVE, SpaceState.ENDED):
        raise Conflict("there is nothing to clip until the Space is live",
                       code=NOT_RECORDED)


def check_host(room: Room, viewer: int | None, what: str) -> None:
    room.authorize("view", viewer)
    if viewer is None:
        raise Unauthorized("sign in first")
    if viewer != room.host_id:
        raise Forbidden(f"only the host can {what}", code="not_allowed")
    if room.state != SpaceState.ENDED:
        raise Conflict(f"you can {what} once the Space has ended",
                       code="illegal_transition")


def check_available(deleted: bool) -> None:
    if deleted:
        raise Gone("The host deleted this recording.", code=RECORDING_DELETED)


def clip_range(room: Room, recorded: float, trim: Trim, start: float | None,
               end: float | None, last: float | None) -> tuple[float, float]:
    """The stretch a clip covers: [start, end] of a replay, or the last `last` seconds
    of what a live Space has recorded so far. Each refusal names its field."""
    if recorded <= 0:
        raise Conflict("nothing has been recorded yet", code=NOT_RECORDED)
    if last is not None:
        if start is not None or end is not None:
            raise BadRequest("give either start and end, or last", field="last")
        if room.state != SpaceState.LIVE:
            raise BadRequest("a clip of the last seconds is for a live Space; on a replay "
                             "give start and end", field="last")
        if not 0 < last <= limits.LIVE_CLIP_SECONDS:
            raise BadRequest(f"last must be more than 0 and at most "
                             f"{limits.LIVE_CLIP_SECONDS:g} seconds", field="last")
        return max(0.0, recorded - last), recorded
    if start is None or end is None:
        raise BadRequest("give start and end (seconds into the replay)",
                         field="start" if start is None else "end")
    if not (math.isfinite(start) and math.isfinite(end)):
        raise BadRequest("start and end must be numbers of seconds", field="start")
    first, last_second = trim.bounds(recorded) if room.state == SpaceState.ENDED else (
        0.0, recorded)
    if start < first:
        raise BadRequest(f"start must be at least {first:.1f} s (where the replay begins)",
                         field="start")
    if end <= start:
        raise BadRequest("end must be after start", field="end")
    if end - start > limits.MAX_CLIP_SECONDS:
        raise BadRequest(f"a clip is at most {limits.MAX_CLIP_SECONDS:g} seconds long",
                         field="end")
    if end - start < limits.MIN_CLIP_SECONDS:
        raise BadRequest(f"a clip is at least {limits.MIN_CLIP_SECONDS:g} second long",
                         field="end")
    if end > last_second + limits.AAC_FRAME_SAMPLES / limits.SAMPLE_RATE:
        raise BadRequest(f"end must be at most {last_second:.1f} s (where the replay ends)",
                         field="end")
    return start, min(end, last_second)


def check_trim(recorded: float, start: float, end: float | None) -> Trim:
    if not math.isfinite(start) or start < 0:
        raise BadRequest("trim_start must be 0 or more seconds", field="trim_start")
    if end is not None and not math.isfinite(end):
        raise BadRequest("trim_end must be a number of seconds", field="trim_end")
    if start >= recorded:
        raise BadRequest(f"trim_start must be before the end of the recording "
                         f"({recorded:.1f} s)", field="trim_start")
    if end is not None and end <= start + limits.MIN_CLIP_SECONDS:
        raise BadRequest("trim_end must be at least a second after trim_start",
                         field="trim_end")
    if end is not None and end >= recorded:
        end = None  # to the end: the same as no end trim
    return Trim(start, end)


def check_may_delete_clip(room: Room, viewer: int | None, maker: int) -> None:
    if viewer is None:
        raise Unauthorized("sign in first")
    if viewer not in (maker, room.host_id):
        raise Forbidden("only the person who made this clip, or the Space's host, can "
                        "delete it", code=NOT_YOURS)


def clip_actions(room: Room, viewer: int | None, maker: int) -> list[str]:
    return ["delete"] if viewer is not None and viewer in (maker, room.host_id) else []


# -- retention ---------------------------------------------------------------------------
def expires_at(ended_at: datetime | None, retention_days: float, notice_days: float,
               notified_at: datetime | None) -> datetime | None:
    """When a replay is deleted (None: kept for good). Never sooner than `notice_days`
    after the host was told, whenever that was."""
    if ended_at is None or retention_days <= 0:
        return None
    at = ended_at + timedelta(days=retention_days)
    if notified_at is not None:
        at = max(at, notified_at + timedelta(days=notice_days))
    return at


def retention_step(ended_at: datetime | None, retention_days: float, notice_days: float,
                   notified_at: datetime | None, now: datetime) -> str | None:
    """"notify" (tell the host it will go), "delete", or None (nothing yet)."""
    at = expires_at(ended_at, retention_days, notice_days, notified_at)
    if at is None:
        return None
    if notified_at is None:
        return "notify" if now >= at - timedelta(days=notice_days) else None
    return "delete" if now >= at else None
