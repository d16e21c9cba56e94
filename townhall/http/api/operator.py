"""Operator moderation over HTTP: reports (anyone signed in), appeals and standing (the
person an action is about), the operators' queue and actions, and the public
transparency log. Each route translates; townhall/app/moderation.py carries out and
townhall/domain/moderation.py decides."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, field_validator

from townhall import limits, threads
from townhall.domain import moderation as rules
from townhall.domain.errors import NOT_ALLOWED, Forbidden
from townhall.http.common.deps import client_key, require_user, services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.store.models import User

router = APIRouter(prefix="/api", tags=["moderation"], responses=API_ERRORS)
SignedIn = Annotated[User, Depends(require_user)]
MAX_ID = 2**31 - 1

Reason = Literal[tuple(rules.REASONS)]  # type: ignore[valid-type]
Answer = Literal["appeal_granted", "reviewed"]


def _text(value: str) -> str:
    return value.replace("\r\n", "\n").strip()


class ReportIn(BaseModel):
    target_type: Literal["space", "user", "replay"]
    target: str = Field(min_length=1, max_length=64, description="a Space id or a username")
    reason: Reason = Field(description="one of GET /api/reports/reasons")
    note: str = Field("", max_length=limits.MAX_REPORT_NOTE_LENGTH)

    _note = field_validator("note")(_text)


class ReportOut(BaseModel):
    id: int
    status: str


class AppealIn(BaseModel):
    entry: int = Field(ge=1, le=MAX_ID, description="the log entry appealed")
    text: str = Field(min_length=1, max_length=limits.MAX_APPEAL_LENGTH)

    _t = field_validator("text")(_text)


class AppealOut(BaseModel):
    id: int
    entry: int
    status: str


class ActionIn(BaseModel):
    action: Literal["suspend", "end_space", "take_down", "reinstate", "restore"]
    target: str = Field(min_length=1, max_length=64,
                        description="a username (suspend, reinstate) or a Space id")
    reason: str = Field(min_length=1, max_length=32,
                        description="a report reason; reinstate/restore: appeal_granted "
                                    "or reviewed")
    note: str = Field("", max_length=limits.MAX_MODERATION_NOTE_LENGTH,
                      description="private: never published")
    days: int | None = Field(None, ge=1, le=limits.MAX_SUSPENSION_DAYS,
                             description="a suspension's length (none: until lifted)")
    report_id: int | None = Field(None, ge=1, le=MAX_ID)

    _note = field_validator("note")(_text)


class AnswerIn(BaseModel):
    grant: bool
    reply: str = Field("", max_length=limits.MAX_MODERATION_NOTE_LENGTH,
                       description="shown to the person who appealed")

    _reply = field_validator("reply")(_text)


class EntryOut(BaseModel):
    """One public log entry (the fields hashed, then its links)."""

    seq: int
    at: str
    action: str
    target_type: str
    target: str
    reason: str
    role: str
    answers: int | None
    until: str | None
    prev_hash: str
    hash: str


class LoggedEntry(EntryOut):
    outcome: int | None = Field(None, description="the entry that answered this one")
    action_label: str
    reason_label: str


class Head(BaseModel):
    seq: int
    hash: str
    genesis: str


class Monthly(BaseModel):
    month: str  # YYYY-MM
    action: str
    reason: str
    count: int
    action_label: str
    reason_label: str


class LogPage(BaseModel):
    entries: list[LoggedEntry]
    next: int | None = Field(description="?before= this for the next page")
    head: Head
    monthly: list[Monthly]


async def require_operator(request: Request, user: SignedIn) -> User:
    if not await threads.run(threads.DATABASE, services(request).moderation.is_operator,
                             user.id):
        raise Forbidden("This is for the service's operators.", code=NOT_ALLOWED)
    return user


Operator = Annotated[User, Depends(require_operator)]


def _forget(request: Request, user_id: int | None) -> None:
    """A suspension or reinstatement takes effect at once on this node: the person's
    cached sessions carry their standing."""
    if user_id is not None:
        request.app.state.sessions.forget_user(user_id)


# -- everyone ----------------------------------------------------------------------------
@router.get("/reports/reasons")
def reasons() -> dict[str, dict[str, str]]:
    """The fixed lists: why one reports (and an operator acts), and how actions are named."""
    return {"reasons": rules.REASONS, "answers": rules.ANSWERS, "actions": rules.ACTION_LABELS}


@router.post("/reports", status_code=201, response_model=ReportOut)
async def report(body: ReportIn, request: Request, user: SignedIn) -> dict[str, Any]:
    svc = services(request)
    await svc.reports.hit(client_key(request, user), "reports")
    return await svc.moderation.report(user.id, body.target_type, body.target, body.reason,
                                       body.note)


@router.post("/appeals", status_code=201, response_model=AppealOut)
async def appeal(body: AppealIn, request: Request, user: SignedIn) -> dict[str, Any]:
    return await services(request).moderation.appeal(user.id, body.entry, body.text)


@router.get("/me/standing")
async def standing(request: Request, user: SignedIn) -> dict[str, Any]:
    """Your suspension if one is in force, every action about you or your Spaces with
    its appeal (`can: ["appeal"]` while you may), and whether you are an operator."""
    svc = services(request)
    out = await threads.run(threads.DATABASE, svc.moderation.standing, user.id)
    out["operator"] = await threads.run(threads.DATABASE, svc.moderation.is_operator, user.id)
    return out


# -- operators -----------------------------------------------------------------------------
@router.get("/operator/queue")
async def queue(request: Request, _: Operator) -> dict[str, Any]:
    """Open reports, oldest first, and open appeals."""
    return await threads.run(threads.DATABASE, services(request).moderation.queue)


@router.post("/operator/actions", status_code=201, response_model=EntryOut)
async def act(body: ActionIn, request: Request, operator: Operator) -> dict[str, Any]:
    out = await services(request).moderation.act(operator.id, body.action, body.target,
                                                 body.reason, body.note, body.days,
                                                 body.report_id)
    _forget(request, out.pop("user_id", None))
    return out


@router.post("/operator/reports/{report_id}/dismiss", status_code=204)
async def dismiss(report_id: int, request: Request, _: Operator) -> None:
    await services(request).moderation.dismiss(report_id)


@router.post("/operator/appeals/{appeal_id}/answer", status_code=201, response_model=EntryOut)
async def answer(appeal_id: int, body: AnswerIn, request: Request,
                 operator: Operator) -> dict[str, Any]:
    out = await services(request).moderation.answer_appeal(operator.id, appeal_id,
                                                           body.grant, body.reply)
    _forget(request, out.pop("user_id", None))
    return out


# -- the public log -------------------------------------------------------------------------
@router.get("/transparency", response_model=LogPage)
async def transparency(request: Request,
                       before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                       limit: Annotated[int, Query(ge=1, le=limits.TRANSPARENCY_PAGE_SIZE)]
                       = limits.TRANSPARENCY_PAGE_SIZE) -> dict[str, Any]:
    """Every operator action, newest first (`?before=` the previous page's `next`), with
    the chain's head and the monthly counts. No private notes, no operator names."""
    return await threads.run(threads.DATABASE, services(request).moderation.page, before,
                             limit)


@router.get("/transparency/head", response_model=Head)
async def transparency_head(request: Request) -> dict[str, Any]:
    """The newest entry's number and hash: record it, and later check the log still
    leads to it (`townhall transparency verify --head HASH`)."""
    return await threads.run(threads.DATABASE, services(request).moderation.head)
