"""Operator moderation carried out: reports in, actions (suspend, reinstate, end a live
Space, take a replay down or put it back), appeals and their answers, each action an
entry of the public transparency log written in the same transaction as its effect.

Appends are serialised: on one node by `_append_lock`, and between origins of a cluster
by the log's primary key (the next number is taken in the writer's own transaction; the
loser of a race gets IntegrityError and tries again, LOG_APPEND_ATTEMPTS times), so two
operators acting at once never fork the chain. Ending a Space goes through
SpaceCommands.act like any room command: the log entry is written in the decision's own
transaction (its `before`), under the Space's lock.

Effects of a suspension: the account's live Spaces end (end reason "operator"), it
leaves every other Space's stage, hands and invitations (its WHIP tokens are revoked
with that), and its writes are refused (townhall/http/common/deps.py) until it is
lifted or runs out. The HTTP layer forgets the person's cached sessions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession

from townhall import limits, threads
from townhall.app.presenters import person_fields
from townhall.app.spaces import SpaceCommands, closed
from townhall.domain import Room, SpaceState
from townhall.domain import moderation as rules
from townhall.domain.errors import (ALREADY_APPEALED, ILLEGAL_TRANSITION, NOT_ALLOWED, BadRequest, ClientError,
                                    Conflict, Forbidden, NotFound)
from townhall.domain.ids import SPACE_ID
from townhall.store import rooms as room_store
from townhall.store import transparency as log_store
from townhall.store.db import Database
from townhall.store.models import (ActionNote, Appeal, LogEntry, Report, Space, SpaceMember,
                                   User)

log = logging.getLogger(__name__)
T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _user_by_name(db: OrmSession, username: str) -> User:
    user = None
    if 0 < len(username) <= limits.MAX_USERNAME_LENGTH:
        user = db.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if user is None:
        raise NotFound("There is no user with that name.", field="target")
    return user


def _space(db: OrmSession, space_id: str) -> Space:
    space = db.get(Space, space_id) if SPACE_ID.fullmatch(space_id) else None
    if space is None:
        raise NotFound("There is no Space with that id.", field="target")
    return space


def _note(db: OrmSession, entry: LogEntry, operator_id: int | None, note: str,
          user_id: int | None = None, space_id: str | None = None) -> None:
    db.add(ActionNote(seq=entry.seq, operator_id=operator_id, user_id=user_id,
                      space_id=space_id, note=note))


def _resolve_reports(db: OrmSession, entry: LogEntry, report_id: int | None,
                     user_id: int | None, space_id: str | None) -> None:
    """The report acted on, and every other open one about the same target, are done."""
    about = []
    if user_id is not None:
        about.append(Report.user_id == user_id)
    if space_id is not None:
        about.append(Report.space_id == space_id)
    if report_id is not None:
        about.append(Report.id == report_id)
    if about:
        db.execute(update(Report).where(Report.status == "open", or_(*about))
                   .values(status="actioned", resolved_at=utcnow(), entry=entry.seq))


def user_standing(db: OrmSession, user: User, now: datetime) -> dict[str, Any] | None:
    """The suspension in force for `user`, as they are told it (None: none)."""
    if not rules.suspended(user.suspension, user.suspended_until, now):
        return None
    entry = db.get(LogEntry, user.suspension)
    reason = entry.reason if entry is not None else "other"
    return {"entry": user.suspension, "reason": reason,
            "reason_label": rules.REASON_LABELS.get(reason, reason),
            "until": rules.iso(user.suspended_until) if user.suspended_until else None}


class Moderation:
    def __init__(self, db: Database, commands: SpaceCommands, base_url: str) -> None:
        self.db = db
        self.commands = commands
        self.base_url = base_url
        self._append_lock = asyncio.Lock()

    # -- helpers ---------------------------------------------------------------------
    async def _in_db(self, work: Callable[..., T], *args: Any) -> T:
        return await threads.run(threads.DATABASE, work, *args)

    async def _appending(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run `attempt` (which appends to the log) until it is the only writer of its
        entry number."""
        async with self._append_lock:
            for tries in range(limits.LOG_APPEND_ATTEMPTS):
                try:
                    return await attempt()
                except IntegrityError:
                    log.info("transparency log: another writer took the number; again (%d)",
                             tries + 1)
            raise Conflict("The transparency log is busy: try again.", code=ILLEGAL_TRANSITION)

    def is_operator(self, user_id: int) -> bool:
        """Read fresh from the database (never a cached session): removing an operator
        takes effect at once."""
        with self.db.session() as db:
            user = db.get(User, user_id)
            return bool(user is not None and user.operator)

    # -- reports ---------------------------------------------------------------------
    async def report(self, reporter_id: int, target_type: str, target: str, reason: str,
                     note: str) -> dict[str, Any]:
        rules.check_report(target_type, reason)

        def write() -> dict[str, Any]:
            with self.db.session() as db:
                user_id = space_id = None
                if target_type == "user":
                    user_id = _user_by_name(db, target).id
                    if user_id == reporter_id:
                        raise BadRequest("You cannot report yourself.", field="target")
                else:
                    space = _space(db, target)
                    room = room_store.load(db, space.id)[1]
                    if not room.may("view", reporter_id):
                        raise NotFound("There is no Space with that id.", field="target")
                    if target_type == "replay" and space.state != SpaceState.ENDED.value:
                        raise BadRequest("Only an ended Space has a replay to report.",
                                         field="target")
                    space_id = space.id
                twice = db.scalar(select(Report.id).where(
                    Report.reporter_id == reporter_id, Report.status == "open",
                    Report.target_type == target_type, Report.user_id.is_(None) if user_id is None
                    else Report.user_id == user_id,
                    Report.space_id.is_(None) if space_id is None else Report.space_id == space_id))
                if twice is not None:
                    raise Conflict("You already reported this: operators will look at it.",
                                   code=ILLEGAL_TRANSITION)
                report = Report(reporter_id=reporter_id, target_type=target_type,
                                user_id=user_id, space_id=space_id, reason=reason, note=note)
                db.add(report)
                db.flush()
                return {"id": report.id, "status": report.status}

        return await self._in_db(write)

    async def dismiss(self, report_id: int) -> None:
        def write() -> None:
            with self.db.session() as db:
                report = db.get(Report, report_id)
                if report is None:
                    raise NotFound("No such report.")
                if report.status != "open":
                    raise Conflict("That report was already handled.", code=ILLEGAL_TRANSITION)
                report.status, report.resolved_at = "dismissed", utcnow()

        await self._in_db(write)

    # -- actions -----------------------------------------------------------------------
    async def act(self, operator_id: int, action: str, target: str, reason: str, note: str,
                  days: int | None = None, report_id: int | None = None) -> dict[str, Any]:
        """An operator's action; the entry it wrote, and whom it suspended or reinstated
        (`user_id`, for the caller to forget their sessions)."""
        if action in (rules.REINSTATE, rules.RESTORE):
            if reason not in rules.ANSWERS or reason == "appeal_denied":
                raise BadRequest("Say why: appeal granted, or lifted on review.", field="reason")
            return await self._undo(operator_id, action, target, reason, note)
        rules.check_sanction(action, reason, days)
        if action == rules.SUSPEND:
            out = await self._appending(lambda: self._in_db(
                self._suspend, operator_id, target, reason, note, days, report_id))
            await self._carry_out_suspension(out["user_id"])
            return out
        if action == rules.END_SPACE:
            return await self._end_space(operator_id, target, reason, note, report_id)
        return await self._appending(lambda: self._in_db(
            self._take_down, operator_id, target, reason, note, report_id))

    def _suspend(self, operator_id: int, username: str, reason: str, note: str,
                 days: int | None, report_id: int | None) -> dict[str, Any]:
        now = utcnow()
        with self.db.session() as db:
            user = _user_by_name(db, username)
            rules.check_may_suspend(operator_id, user.id, user.operator,
                                    rules.suspended(user.suspension, user.suspended_until, now))
            until = now + timedelta(days=days) if days is not None else None
            entry = log_store.append(db, at=now, action=rules.SUSPEND, target_type="user",
                                     target=user.username, reason=reason, until=until)
            user.suspension, user.suspended_until = entry.seq, until
            _note(db, entry, operator_id, note, user_id=user.id)
            _resolve_reports(db, entry, report_id, user.id, None)
            return {**log_store.public(entry), "user_id": user.id}

    async def _carry_out_suspension(self, user_id: int) -> None:
        """Their live Spaces end; they leave every other Space's stage and hands."""
        def spaces() -> tuple[list[str], list[str]]:
            with self.db.session() as db:
                hosted = list(db.scalars(select(Space.id).where(
                    Space.host_id == user_id, Space.state == SpaceState.LIVE.value)))
                member = list(db.scalars(select(SpaceMember.space_id).join(
                    Space, Space.id == SpaceMember.space_id).where(
                    SpaceMember.user_id == user_id,
                    Space.state.in_((SpaceState.LIVE.value, SpaceState.SCHEDULED.value)))))
                return hosted, member

        hosted, member = await self._in_db(spaces)
        for space_id in hosted:
            await self._quietly(space_id, lambda r: r.end_by_operator(), closed(space_id))
        for space_id in member:
            await self._quietly(space_id, lambda r: r.drop_suspended(user_id), None)

    async def _quietly(self, space_id: str, command: Callable[[Room], Any],
                       before: Any) -> None:
        try:
            await self.commands.act(space_id, None, command, self.base_url, before)
        except ClientError as refused:  # ended meanwhile
            log.info("moderation: %s not changed: %s", space_id, refused)

    async def _end_space(self, operator_id: int, space_id: str, reason: str, note: str,
                         report_id: int | None) -> dict[str, Any]:
        def check() -> None:
            with self.db.session() as db:
                _space(db, space_id)

        await self._in_db(check)
        written: dict[str, Any] = {}
        close = closed(space_id)

        def record(db: OrmSession, space: Space) -> None:
            close(db, space)
            entry = log_store.append(db, at=utcnow(), action=rules.END_SPACE,
                                     target_type="space", target=space.id, reason=reason)
            _note(db, entry, operator_id, note, user_id=space.host_id, space_id=space.id)
            _resolve_reports(db, entry, report_id, None, space.id)
            written.update(log_store.public(entry))

        await self._appending(lambda: self.commands.act(
            space_id, None, lambda r: r.end_by_operator(), self.base_url, record))
        return written

    def _take_down(self, operator_id: int, space_id: str, reason: str, note: str,
                   report_id: int | None) -> dict[str, Any]:
        with self.db.session() as db:
            space = _space(db, space_id)
            if space.state != SpaceState.ENDED.value:
                raise Conflict("Only an ended Space's replay can be taken down: end the "
                               "Space first.", code=ILLEGAL_TRANSITION)
            if space.taken_down is not None:
                raise Conflict("That replay is already taken down.", code=ILLEGAL_TRANSITION)
            entry = log_store.append(db, at=utcnow(), action=rules.TAKE_DOWN,
                                     target_type="replay", target=space.id, reason=reason)
            space.taken_down = entry.seq
            _note(db, entry, operator_id, note, user_id=space.host_id, space_id=space.id)
            _resolve_reports(db, entry, report_id, None, space.id)
            return log_store.public(entry)

    async def _undo(self, operator_id: int, action: str, target: str, reason: str,
                    note: str) -> dict[str, Any]:
        def write() -> dict[str, Any]:
            with self.db.session() as db:
                if action == rules.REINSTATE:
                    user = _user_by_name(db, target)
                    if not rules.suspended(user.suspension, user.suspended_until, utcnow()):
                        raise Conflict("That account is not suspended.", code=ILLEGAL_TRANSITION)
                    assert user.suspension is not None
                    sanction = user.suspension
                else:
                    space = _space(db, target)
                    if space.taken_down is None:
                        raise Conflict("That replay is not taken down.", code=ILLEGAL_TRANSITION)
                    sanction = space.taken_down
                appeal = db.scalar(select(Appeal).where(Appeal.entry == sanction,
                                                        Appeal.status == "open"))
                return self._answer(db, operator_id, sanction, True, reason, note, appeal)

        out = await self._appending(lambda: self._in_db(write))
        return out

    def _answer(self, db: OrmSession, operator_id: int, sanction_seq: int, grant: bool,
                reason: str, note: str, appeal: Appeal | None) -> dict[str, Any]:
        """Write the entry answering `sanction_seq` and undo it when granted."""
        sanction = db.get(LogEntry, sanction_seq)
        private = db.get(ActionNote, sanction_seq)
        assert sanction is not None and private is not None
        action = rules.answer_action(sanction.action, grant)
        entry = log_store.append(db, at=utcnow(), action=action,
                                 target_type=sanction.target_type, target=sanction.target,
                                 reason=reason, answers=sanction_seq)
        user_id = None
        if grant and sanction.action == rules.SUSPEND:
            user = db.get(User, private.user_id)
            if user is not None and user.suspension == sanction_seq:
                user.suspension, user.suspended_until = None, None
                user_id = user.id
        if grant and sanction.action == rules.TAKE_DOWN:
            space = db.get(Space, private.space_id)
            if space is not None and space.taken_down == sanction_seq:
                space.taken_down = None
        _note(db, entry, operator_id, note, user_id=private.user_id, space_id=private.space_id)
        if appeal is not None:
            appeal.status = "granted" if grant else "denied"
            appeal.answer, appeal.answered_at = entry.seq, utcnow()
        return {**log_store.public(entry), "user_id": user_id}

    # -- appeals ---------------------------------------------------------------------
    async def appeal(self, user_id: int, entry_seq: int, text: str) -> dict[str, Any]:
        def write() -> dict[str, Any]:
            with self.db.session() as db:
                entry = db.get(LogEntry, entry_seq)
                private = db.get(ActionNote, entry_seq)
                if entry is None or private is None:
                    raise NotFound("There is no such action on the log.", field="entry")
                answered = db.scalar(select(LogEntry.seq).where(
                    LogEntry.answers == entry_seq)) is not None
                appealed = db.scalar(select(Appeal.id).where(
                    Appeal.entry == entry_seq)) is not None
                rules.check_appeal(entry.action, private.user_id == user_id, answered, appealed)
                appeal = Appeal(entry=entry_seq, user_id=user_id, text=text)
                db.add(appeal)
                try:
                    db.flush()
                except IntegrityError:  # the same appeal from two tabs at once
                    raise Conflict("You already appealed this action.",
                                   code=ALREADY_APPEALED) from None
                return {"id": appeal.id, "entry": entry_seq, "status": appeal.status}

        return await self._in_db(write)

    async def answer_appeal(self, operator_id: int, appeal_id: int, grant: bool,
                            reply: str) -> dict[str, Any]:
        def write() -> dict[str, Any]:
            with self.db.session() as db:
                appeal = db.get(Appeal, appeal_id)
                if appeal is None:
                    raise NotFound("No such appeal.")
                if appeal.status != "open":
                    raise Conflict("That appeal was already answered.", code=ILLEGAL_TRANSITION)
                if appeal.user_id == operator_id:
                    raise Forbidden("Another operator answers your own appeal.",
                                    code=NOT_ALLOWED)
                reason = "appeal_granted" if grant else "appeal_denied"
                appeal.reply = reply
                return self._answer(db, operator_id, appeal.entry, grant, reason, reply, appeal)

        return await self._appending(lambda: self._in_db(write))

    # -- reading -------------------------------------------------------------------------
    def standing(self, user_id: int) -> dict[str, Any]:
        """What the person is told: a suspension in force, and every action about them or
        their Spaces with its appeal (and whether they may still appeal it)."""
        now = utcnow()
        with self.db.session() as db:
            user = db.get(User, user_id)
            if user is None:
                raise NotFound("no such user")
            rows = db.execute(select(LogEntry, Appeal).join(
                ActionNote, ActionNote.seq == LogEntry.seq).outerjoin(
                Appeal, Appeal.entry == LogEntry.seq).where(
                ActionNote.user_id == user_id, LogEntry.action.in_(rules.SANCTIONS))
                .order_by(LogEntry.seq.desc()).limit(limits.MODERATION_QUEUE_SIZE)).all()
            outcomes = log_store.answered_by(db, [e.seq for e, _ in rows])
            actions = []
            for entry, appeal in rows:
                outcome = outcomes.get(entry.seq)
                actions.append({
                    **log_store.public(entry),
                    "action_label": rules.ACTION_LABELS[entry.action],
                    "reason_label": rules.REASON_LABELS.get(entry.reason, entry.reason),
                    "outcome": outcome,
                    "appeal": None if appeal is None else {
                        "status": appeal.status, "text": appeal.text, "reply": appeal.reply},
                    "can": ["appeal"] if appeal is None and outcome is None else [],
                })
            return {"suspension": user_standing(db, user, now), "actions": actions}

    def suspension_of(self, user_id: int) -> dict[str, Any] | None:
        with self.db.session() as db:
            user = db.get(User, user_id)
            return None if user is None else user_standing(db, user, utcnow())

    def queue(self) -> dict[str, Any]:
        """Open reports (oldest first, each with what it is about) and open appeals."""
        with self.db.session() as db:
            reports = db.scalars(select(Report).where(Report.status == "open")
                                 .order_by(Report.id).limit(limits.MODERATION_QUEUE_SIZE))
            out_reports = []
            for report in reports:
                reporter = db.get(User, report.reporter_id)
                target: dict[str, Any]
                if report.user_id is not None:
                    user = db.get(User, report.user_id)
                    assert user is not None
                    target = {"type": "user", "id": user.username, "label": f"@{user.username}",
                              "url": f"/u/{user.username}",
                              "suspended": rules.suspended(user.suspension,
                                                           user.suspended_until, utcnow())}
                else:
                    space = db.get(Space, report.space_id)
                    assert space is not None
                    target = {"type": report.target_type, "id": space.id, "label": space.title,
                              "url": f"/s/{space.id}", "state": space.state,
                              "taken_down": space.taken_down is not None}
                out_reports.append({
                    "id": report.id, "reason": report.reason,
                    "reason_label": rules.REASONS[report.reason], "note": report.note,
                    "created_at": rules.iso(report.created_at), "target": target,
                    "reporter": reporter.username if reporter else None})
            appeals = db.execute(select(Appeal, LogEntry, User).join(
                LogEntry, LogEntry.seq == Appeal.entry).join(User, User.id == Appeal.user_id)
                .where(Appeal.status == "open").order_by(Appeal.id)
                .limit(limits.MODERATION_QUEUE_SIZE)).all()
            out_appeals = [{
                "id": appeal.id, "text": appeal.text, "created_at": rules.iso(appeal.created_at),
                "by": {"username": user.username, **person_fields(user)},
                "entry": {**log_store.public(entry),
                          "action_label": rules.ACTION_LABELS[entry.action],
                          "reason_label": rules.REASON_LABELS.get(entry.reason, entry.reason)},
            } for appeal, entry, user in appeals]
            return {"reports": out_reports, "appeals": out_appeals}

    def page(self, before: int | None, limit: int) -> dict[str, Any]:
        """The public log, newest first, each entry with its outcome (the entry answering
        it), the head and the monthly counts."""
        with self.db.session() as db:
            entries = log_store.newest(db, before, limit)
            outcomes = log_store.answered_by(db, [e.seq for e in entries])
            last = log_store.head(db)
            out = [{**log_store.public(e), "outcome": outcomes.get(e.seq),
                    "action_label": rules.ACTION_LABELS.get(e.action, e.action),
                    "reason_label": rules.REASON_LABELS.get(e.reason, e.reason)}
                   for e in entries]
            more = bool(entries) and entries[-1].seq > 1
            return {"entries": out, "next": entries[-1].seq if more else None,
                    "head": self._head(last),
                    "monthly": [{**m, "action_label": rules.ACTION_LABELS.get(m["action"],
                                                                              m["action"]),
                                 "reason_label": rules.REASON_LABELS.get(m["reason"],
                                                                         m["reason"])}
                                for m in log_store.monthly(db)]}

    @staticmethod
    def _head(last: LogEntry | None) -> dict[str, Any]:
        return {"seq": last.seq if last else 0,
                "hash": last.hash if last else rules.GENESIS, "genesis": rules.GENESIS}

    def head(self) -> dict[str, Any]:
        with self.db.session() as db:
            return self._head(log_store.head(db))

    def taken_down(self, space_id: str) -> int | None:
        with self.db.session() as db:
            space = db.get(Space, space_id) if SPACE_ID.fullmatch(space_id) else None
            return None if space is None else space.taken_down

