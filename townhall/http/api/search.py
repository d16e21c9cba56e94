"""Search: Spaces (live, upcoming, replays; also by their final transcript) and people,
ranked, a page at a time, with the matched words marked (townhall/store/search.py: the indexes, ranking and who sees
which Space)."""

from __future__ import annotations

import html
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AfterValidator, BaseModel
from pydantic_core import PydanticCustomError

from townhall import limits, threads
from townhall.app.presenters import SpaceOut, UserRef
from townhall.http.api.spaces import space_out
from townhall.http.common.deps import current_user, services
from townhall.http.common.errors_doc import API_ERRORS
from townhall.store import search as store
from townhall.store.models import User

router = APIRouter(prefix="/api", tags=["search"], responses=API_ERRORS)
Viewer = Annotated[User | None, Depends(current_user)]
MARK, UNMARK = "<mark>", "</mark>"


def _few_words(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "type something to search for")
    if len(store.terms(value)) > limits.MAX_SEARCH_WORDS:
        raise PydanticCustomError("too_many_words", "use at most {max} words",
                                  {"max": limits.MAX_SEARCH_WORDS})
    return value


Q = Annotated[str, Query(min_length=1, max_length=limits.MAX_SEARCH_QUERY_LENGTH,
                         description="What to look for: every word must match (a word "
                                     "matches the words it begins)"),
              AfterValidator(_few_words)]
Page = Annotated[int, Query(ge=1, le=limits.MAX_SEARCH_PAGES)]


class Highlight(BaseModel):
    """HTML: the text with every matched word in <mark>, everything else escaped."""

    title: str  # a Space's title, or a person's display name
    # A Space: the part of its description (else its topics, else its host) with a match;
    # a person: their @username. "" when nothing there matched.
    snippet: str
    # A Space: the part of its final transcript around the first match ("" when it has
    # none, or nothing in it matched; always "" for a person).
    transcript: str = ""


class SpaceHitOut(BaseModel):
    space: SpaceOut
    rank: float
    highlight: Highlight


class UserHitOut(BaseModel):
    user: UserRef
    rank: float
    highlight: Highlight


class SearchOut(BaseModel):
    q: str
    kind: Literal["spaces", "users"]
    # The words searched for (letters and digits; none: nothing to search).
    words: list[str]
    page: int
    page_size: int
    next_page: int | None
    spaces: list[SpaceHitOut]  # when kind is "spaces"
    users: list[UserHitOut]  # when kind is "users"


@router.get("/search", response_model=SearchOut)
async def search(request: Request, viewer: Viewer, q: Q,
                 kind: Literal["spaces", "users"] = "spaces", page: Page = 1) -> SearchOut:
    """Ranked full-text search (README: Search). Spaces by title, topics, description and
    their host's names, and by their final transcript (ranked after every Space found
    without it, rank below 0), never cancelled ones, private ones only for who may view them;
    people by username and display name. Every word must match (as the beginning of a
    word). Rank: SQLite bm25 with weights title 10, topics 5, host 5, description 1
    (people: username 2, display name 1); PostgreSQL ts_rank with title A 1.0, topics and
    host B 0.5, description C 0.2, normalised by 1 + log(length) (people: username A,
    display name B). Equal ranks: live, then upcoming, then replays, newest first."""
    return await threads.run(threads.DATABASE, _search, request, viewer, q, kind, page)


def _search(request: Request, viewer: User | None, q: str, kind: store.Kind,
            page: int) -> SearchOut:
    size = limits.SEARCH_PAGE_SIZE
    with services(request).db.session() as db:
        found = store.search(db, q, kind, viewer.id if viewer else None, page, size)
        spaces, users = [], []
        said = store.transcripts_of(db, [hit.space.id for hit in found.hits
                                         if isinstance(hit, store.SpaceHit)])
        for hit in found.hits:
            if isinstance(hit, store.SpaceHit):
                out = space_out(request, db, hit.space, hit.room, viewer)
                highlight = _space_highlight(out, found.words)
                highlight.transcript = excerpt(said.get(hit.space.id, ""), found.words,
                                               limits.SEARCH_SNIPPET_LENGTH)
                spaces.append(SpaceHitOut(space=out, rank=hit.rank, highlight=highlight))
            else:
                users.append(UserHitOut(user=UserRef.of(hit.user), rank=hit.rank,
                                        highlight=_user_highlight(hit.user, found.words)))
    more = found.more and page < limits.MAX_SEARCH_PAGES
    return SearchOut(q=q, kind=kind, words=found.words, page=page, page_size=size,
                     next_page=page + 1 if more else None, spaces=spaces, users=users)


def marked(text: str, words: list[str]) -> str:
    """`text` as HTML: escaped, with each matched word in <mark>."""
    out, at = [], 0
    for start, end in store.matches(text, words):
        out += [html.escape(text[at:start]), MARK, html.escape(text[start:end]), UNMARK]
        at = end
    out.append(html.escape(text[at:]))
    return "".join(out)


def excerpt(text: str, words: list[str], length: int) -> str:
    """About `length` characters of `text` around its first match, as marked HTML
    ("" if nothing in it matches); cut at spaces, "…" where text was left out."""
    found = store.matches(text, words)
    if not found:
        return ""
    start = max(0, found[0][0] - length // 3)
    if start:
        start = text.find(" ", start, found[0][0]) + 1 or start
    end = min(len(text), start + length)
    if end < len(text) and (cut := text.rfind(" ", found[0][1], end)) > 0:
        end = cut
    return ("…" if start else "") + marked(text[start:end].strip(), words) + (
        "…" if end < len(text) else "")


def _space_highlight(space: SpaceOut, words: list[str]) -> Highlight:
    host = space.host
    sources = (("", space.description or ""), ("Topics: ", " · ".join(space.topics or ())),
               ("Hosted by ", f"{host.display_name} (@{host.username})"))
    for label, text in sources:
        if snippet := excerpt(text, words, limits.SEARCH_SNIPPET_LENGTH):
            return Highlight(title=marked(space.title, words), snippet=label + snippet)
    return Highlight(title=marked(space.title, words), snippet="")


def _user_highlight(user: User, words: list[str]) -> Highlight:
    return Highlight(title=marked(user.display_name or user.username, words),
                     snippet=marked(f"@{user.username}", words))
