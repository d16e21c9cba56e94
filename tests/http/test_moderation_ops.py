"""Operator moderation over HTTP against a real server: reports (the fixed reasons, a
bad one refused, the rate limit), operators made with `townhall operator add`, a
suspension (everything but reading and appealing refused with code "suspended", the
person's live Space ended by "operator", signing in still works), one appeal per
action, an operator's answer reinstating, a replay taken down (410 and gone from the
lists), non-operators refused everywhere, and every action on the public log, whose
chain verifies. Tampering with the stored log (an edited reason, a deleted entry, an
inserted one, the newest removed) is caught by `townhall transparency verify`, naming
the entry."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from townhall import limits
from townhall.cli import main as cli
from townhall.domain import moderation as rules
from townhall.store import transparency
from townhall.store.db import Database
from townhall.testing.servers import Server, live_space, signed_in_client


def run_cli(*argv: str) -> int:
    with pytest.raises(SystemExit) as done:
        cli(list(argv))
    return int(done.value.code or 0)


def name_of(client: httpx.Client) -> str:
    return client.get("/api/me").json()["username"]


@pytest.fixture
def people(server: Server) -> Iterator[dict[str, httpx.Client]]:
    clients = {p: signed_in_client(server.base_url, p) for p in ("op", "bad", "witness")}
    assert run_cli("operator", "add", name_of(clients["op"]), "--data-dir",
                   str(server.data_dir)) == 0
    yield clients
    for c in clients.values():
        c.close()


def entries(client: httpx.Client) -> list[dict]:
    page = client.get("/api/transparency")
    assert page.status_code == 200, page.text
    return page.json()["entries"]


def test_report_suspend_appeal_reinstate_each_on_the_log(server: Server, people) -> None:  # type: ignore[no-untyped-def]
    op, bad, witness = people["op"], people["bad"], people["witness"]
    bad_name = name_of(bad)
    space = live_space(bad, "Shouting match")

    # A report: reasons from the fixed list; anything else is a 422 naming the input.
    wrong = witness.post("/api/reports", json={"target_type": "user", "target": bad_name,
                                               "reason": "i_dont_like_them"})
    assert wrong.status_code == 422 and "reason" in wrong.json()["fields"]
    assert set(witness.get("/api/reports/reasons").json()["reasons"]) == set(rules.REASONS)
    filed = witness.post("/api/reports", json={"target_type": "user", "target": bad_name,
                                               "reason": "harassment", "note": "in the Space"})
    assert filed.status_code == 201, filed.text
    assert witness.post("/api/reports", json={"target_type": "user", "target": bad_name,
                                              "reason": "harassment"}).status_code == 409
    queue = op.get("/api/operator/queue").json()
    mine = [r for r in queue["reports"] if r["id"] == filed.json()["id"]]
    assert mine and mine[0]["target"]["id"] == bad_name and mine[0]["note"] == "in the Space"

    # Suspended for 7 days, from the report.
    acted = op.post("/api/operator/actions", json={
        "action": "suspend", "target": bad_name, "reason": "harassment", "days": 7,
        "note": "private: three reports, clips checked", "report_id": filed.json()["id"]})
    assert acted.status_code == 201, acted.text
    suspension = acted.json()
    assert suspension["action"] == "suspend" and suspension["role"] == "operator"
    assert "note" not in suspension and suspension["until"] is not None
    assert filed.json()["id"] not in [r["id"] for r in op.get("/api/operator/queue")
                                      .json()["reports"]]

    # Their live Space ended, and says an operator ended it.
    ended = witness.get(f"/api/spaces/{space['id']}").json()
    assert (ended["state"], ended["end_reason"]) == ("ended", "operator")

    # Every write is refused with why; reading and signing in still work.
    for method, path, body in (
            ("POST", "/api/spaces", {"title": "Back again"}),
            ("POST", f"/api/spaces/{space['id']}/reactions", {"emoji": "👏"}),
            ("POST", "/api/reports", {"target_type": "user", "target": name_of(witness),
                                      "reason": "spam"}),
            ("POST", f"/api/users/{name_of(witness)}/follow", None),
            ("POST", "/api/spaces/demo/hand", None),
            ("POST", "/api/spaces/demo/stage", None)):
        refused = bad.request(method, path, json=body)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["code"] == "suspended", refused.text
        assert "harassment" in refused.json()["detail"] and "/standing" in refused.json()["detail"]
    assert bad.get("/api/spaces/demo").status_code == 200
    again = httpx.Client(base_url=server.base_url)
    assert again.post("/api/auth/signin", json={"username": bad_name,
                                                "password": "correct horse"}).status_code == 200
    standing = again.get("/api/me/standing").json()
    assert standing["suspension"]["reason"] == "harassment"
    assert standing["suspension"]["entry"] == suspension["seq"]
    assert standing["actions"][0]["can"] == ["appeal"]

    # One appeal per action; the operator answers it and the account is back.
    text = "I was quoting someone else."
    appealed = again.post("/api/appeals", json={"entry": suspension["seq"], "text": text})
    assert appealed.status_code == 201, appealed.text
    twice = again.post("/api/appeals", json={"entry": suspension["seq"], "text": "please"})
    assert twice.status_code == 409 and twice.json()["code"] == "already_appealed"
    assert witness.post("/api/appeals", json={"entry": suspension["seq"],
                                              "text": "me too"}).status_code in (403, 409)
    open_appeals = op.get("/api/operator/queue").json()["appeals"]
    assert [a["text"] for a in open_appeals if a["id"] == appealed.json()["id"]] == [text]
    answered = op.post(f"/api/operator/appeals/{appealed.json()['id']}/answer",
                       json={"grant": True, "reply": "You're right: the clip shows it."})
    assert answered.status_code == 201, answered.text
    reinstated = answered.json()
    assert (reinstated["action"], reinstated["answers"], reinstated["reason"]) == (
        "reinstate", suspension["seq"], "appeal_granted")
    assert again.post("/api/spaces", json={"title": "Back again"}).status_code == 201
    standing = again.get("/api/me/standing").json()
    assert standing["suspension"] is None
    assert standing["actions"][0]["appeal"]["reply"] == "You're right: the clip shows it."
    assert standing["actions"][0]["can"] == []

    # The public log has both, linked, without private notes, and the chain verifies.
    log = {e["seq"]: e for e in entries(httpx.Client(base_url=server.base_url))}
    assert log[suspension["seq"]]["outcome"] == reinstated["seq"]
    assert log[reinstated["seq"]]["answers"] == suspension["seq"]
    assert all("note" not in e and "operator_id" not in e for e in log.values())
    head = httpx.get(f"{server.base_url}/api/transparency/head").json()
    assert head["seq"] >= reinstated["seq"]
    assert run_cli("transparency", "verify", "--data-dir", str(server.data_dir),
                   "--head", head["hash"]) == 0


def test_end_a_space_and_take_down_a_replay(server: Server, people) -> None:  # type: ignore[no-untyped-def]
    op, host, witness = people["op"], people["bad"], people["witness"]
    space = live_space(host, "A Space to end")
    assert witness.post("/api/reports", json={"target_type": "space", "target": space["id"],
                                              "reason": "violence"}).status_code == 201
    ended = op.post("/api/operator/actions", json={"action": "end_space", "target": space["id"],
                                                   "reason": "violence"})
    assert ended.status_code == 201, ended.text
    assert witness.get(f"/api/spaces/{space['id']}").json()["end_reason"] == "operator"
    again = op.post("/api/operator/actions", json={"action": "end_space", "target": space["id"],
                                                   "reason": "violence"})
    assert again.status_code == 409

    assert any(s["id"] == space["id"] for s in witness.get(f"/api/users/{name_of(host)}")
               .json()["spaces"])
    down = op.post("/api/operator/actions", json={"action": "take_down", "target": space["id"],
                                                  "reason": "violence"})
    assert down.status_code == 201, down.text
    gone = witness.get(f"/api/spaces/{space['id']}")
    assert gone.status_code == 410 and gone.json()["code"] == "taken_down"
    replay = httpx.get(f"{server.base_url}/hls/{space['id']}/replay.m3u8")
    assert replay.status_code == 410 and replay.json()["code"] == "taken_down"
    page = httpx.get(f"{server.base_url}/s/{space['id']}", headers={"Accept": "text/html"})
    assert page.status_code == 410 and "taken down" in page.text
    assert not any(s["id"] == space["id"] for s in witness.get(
        f"/api/users/{name_of(host)}").json()["spaces"])
    recent = witness.get("/api/spaces").json()["recent"]
    assert space["id"] not in [s["id"] for s in recent]

    # The host appeals the take-down; granted, the replay is back.
    appealed = host.post("/api/appeals", json={"entry": down.json()["seq"], "text": "Fair use"})
    assert appealed.status_code == 201, appealed.text
    answered = op.post(f"/api/operator/appeals/{appealed.json()['id']}/answer",
                       json={"grant": True})
    assert answered.json()["action"] == "restore"
    assert witness.get(f"/api/spaces/{space['id']}").status_code == 200


def test_operators_only(server: Server, people) -> None:  # type: ignore[no-untyped-def]
    nobody = people["witness"]
    for method, path, body in (
            ("GET", "/api/operator/queue", None),
            ("POST", "/api/operator/actions", {"action": "suspend", "target": "x",
                                               "reason": "spam"}),
            ("POST", "/api/operator/reports/1/dismiss", None),
            ("POST", "/api/operator/appeals/1/answer", {"grant": True})):
        answer = nobody.request(method, path, json=body)
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["code"] == "not_allowed"
        assert httpx.request(method, f"{server.base_url}{path}", json=body,
                             headers={"Origin": server.base_url}).status_code == 401
    # Removing the role takes effect at once (read fresh, not from a cached session).
    op = people["op"]
    assert op.get("/api/operator/queue").status_code == 200
    assert run_cli("operator", "remove", name_of(op), "--data-dir", str(server.data_dir)) == 0
    assert op.get("/api/operator/queue").status_code == 403


def test_two_operators_at_once_never_fork_the_chain(server: Server, people) -> None:  # type: ignore[no-untyped-def]
    """Suspensions sent together: each gets its own number, the chain stays one line."""
    from concurrent.futures import ThreadPoolExecutor

    op = people["op"]
    second = signed_in_client(server.base_url, "op2")
    assert run_cli("operator", "add", name_of(second), "--data-dir", str(server.data_dir)) == 0
    targets = [name_of(signed_in_client(server.base_url, "many")) for _ in range(8)]

    def suspend(i: int) -> httpx.Response:
        return (op if i % 2 else second).post("/api/operator/actions", json={
            "action": "suspend", "target": targets[i], "reason": "spam", "days": 1})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(suspend, range(8)))
    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers]
    seqs = sorted(a.json()["seq"] for a in answers)
    assert len(set(seqs)) == 8
    assert run_cli("transparency", "verify", "--data-dir", str(server.data_dir)) == 0


def test_reports_are_rate_limited(server: Server) -> None:
    reporter = signed_in_client(server.base_url, "flood")
    targets = [signed_in_client(server.base_url, "target") for _ in range(limits.REPORT_BURST + 1)]
    answers = [reporter.post("/api/reports", json={
        "target_type": "user", "target": name_of(t), "reason": "spam"}) for t in targets]
    assert [a.status_code for a in answers] == [201] * limits.REPORT_BURST + [429]
    assert answers[-1].json()["code"] == "rate_limited" and answers[-1].headers["Retry-After"]


# -- tampering -------------------------------------------------------------------------
@pytest.fixture
def logged(tmp_path: Path) -> Path:
    """A database with five log entries."""
    database = Database(f"sqlite:///{tmp_path / 'townhall.db'}")
    start = datetime(2026, 12, 1, tzinfo=UTC)
    with database.session() as db:
        for i in range(5):
            transparency.append(db, at=start + timedelta(hours=i), action="suspend",
                                target_type="user", target=f"user{i}", reason="spam")
    database.close()
    return tmp_path


def tamper(data_dir: Path, sql: str) -> None:
    with sqlite3.connect(data_dir / "townhall.db") as connection:
        connection.execute("PRAGMA foreign_keys=OFF")
        connection.execute(sql)


def verify(data_dir: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    status = run_cli("transparency", "verify", "--data-dir", str(data_dir), *extra)
    return status, capsys.readouterr().out


def test_an_untouched_log_verifies(logged: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    status, out = verify(logged, capsys)
    assert status == 0 and out.startswith("OK: 5 entries")


def test_an_edited_reason_is_named(logged: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    tamper(logged, "UPDATE transparency_log SET reason = 'hate' WHERE seq = 3")
    status, out = verify(logged, capsys)
    assert status == 1 and "entry 3" in out and "changed" in out


def test_an_edit_that_rehashes_the_entry_breaks_the_next_link(logged: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    with sqlite3.connect(logged / "townhall.db") as connection:
        row = connection.execute("SELECT seq, at, action, target_type, target, reason, role, "
                                 "answers, until, prev_hash FROM transparency_log WHERE seq = 2"
                                 ).fetchone()
        fields = dict(zip(rules.PUBLIC_FIELDS, row[:9], strict=True)) | {"target": "someone"}
        connection.execute("UPDATE transparency_log SET target = 'someone', hash = ? "
                           "WHERE seq = 2", (rules.entry_hash(fields, row[9]),))
    status, out = verify(logged, capsys)
    assert status == 1 and "entry 3" in out and "prev_hash" in out


def test_a_deleted_middle_entry_is_named(logged: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    tamper(logged, "DELETE FROM transparency_log WHERE seq = 2")
    status, out = verify(logged, capsys)
    assert status == 1 and "entry 3" in out and "missing" in out


def test_an_inserted_entry_is_named(logged: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    tamper(logged, "UPDATE transparency_log SET seq = seq + 100 WHERE seq >= 4")
    tamper(logged, "INSERT INTO transparency_log (seq, at, action, target_type, target, reason,"
                   " role, prev_hash, hash) SELECT 4, at, 'reinstate', target_type, target, "
                   "'reviewed', role, hash, 'f00d' FROM transparency_log WHERE seq = 3")
    tamper(logged, "UPDATE transparency_log SET seq = seq - 99 WHERE seq >= 100")
    status, out = verify(logged, capsys)
    assert status == 1 and "entry 4" in out


def test_removed_newest_entries_are_caught_against_a_recorded_head(logged: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    database = Database(f"sqlite:///{logged / 'townhall.db'}")
    with database.session() as db:
        head = transparency.head(db)
        assert head is not None
        recorded = head.hash
    database.close()
    tamper(logged, "DELETE FROM transparency_log WHERE seq = 5")
    assert verify(logged, capsys)[0] == 0  # without a head, a shorter log looks whole
    status, out = verify(logged, capsys, "--head", recorded)
    assert status == 1 and "removed" in out


def test_the_log_is_checkable_from_its_json_alone(logged: Path) -> None:
    """The recipe in the README: recompute every hash from the published entries."""
    import hashlib
    import json

    database = Database(f"sqlite:///{logged / 'townhall.db'}")
    with database.session() as db:
        published = list(transparency.every(db))
    database.close()
    prev = "0" * 64
    for entry in published:
        body = {k: entry[k] for k in ("seq", "at", "action", "target_type", "target", "reason",
                                      "role", "answers", "until")} | {"prev_hash": prev}
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                           ensure_ascii=False).encode()).hexdigest()
        assert entry["prev_hash"] == prev and entry["hash"] == digest
        prev = digest
    published[1]["reason"] = "hate"
    problem, _, _ = rules.verify(published)
    assert problem is not None and problem.seq == 2
