"""Notification email against a real SMTP server (aiosmtpd on 127.0.0.1) that receives
and parses every message: a follower's email names the host and the Space and links to
it, with RFC 8058 one-click unsubscribe headers and a visible unsubscribe link; a kind
turned off for email still arrives in the app; one-click unsubscribe works once (409
twice, 400 forged); a recipient the server refuses does not stop the others; a new
address gets mail only once its owner follows the confirmation link; a batch goes out
over one SMTP connection, in chunks, with progress in the log; no SMTP host, no email."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import insert

from townhall.app.mailer import EmailChannel, EmailLinks, SmtpServer, email_channel
from townhall.app.notifier import LIVE, Job, Notifier
from townhall.app.runtime import Services
from townhall.config import Settings
from townhall.store.db import Database
from townhall.store.models import Follow, Space, User
from townhall.testing.servers import (MANY_SIGNUPS, Server, free_port, signed_in_client,
                                      start_server, stop_server)
from townhall.testing.waiting import wait_until

WAIT = 15.0  # seconds for the fan-out and the mail worker
REFUSED = "nobody-here@example.org"  # the SMTP server answers 550 for this one
SENDER = "Townhall <notify@example.org>"


class Inbox:
    """An aiosmtpd handler keeping every message it takes (parsed), per recipient, and
    which connection (the client's address and port) brought it."""

    def __init__(self, refuse: tuple[str, ...] = (REFUSED,)) -> None:
        self.refuse = refuse
        self.lock = threading.Lock()
        self.received: list[tuple[str, EmailMessage, tuple[str, int]]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address in self.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append((rcpt, message, tuple(session.peer[:2])))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for rcpt, m, _ in self.received if rcpt == address]

    def about(self, address: str, text: str) -> list[EmailMessage]:
        """Messages to `address` whose subject contains `text`."""
        return [m for m in self.to(address) if text in str(m["Subject"])]


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture(scope="module")
def mail_server(smtp: tuple[Inbox, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that sends email through the test's SMTP server."""
    _, port = smtp
    server = start_server(tmp_path_factory.mktemp("email"), command="serve", extra_env={
        **MANY_SIGNUPS, "TOWNHALL_SMTP_HOST": "127.0.0.1", "TOWNHALL_SMTP_PORT": str(port),
        "TOWNHALL_SMTP_SECURITY": "none", "TOWNHALL_SMTP_FROM": SENDER})
    yield server
    stop_server(server)
    assert "Traceback" not in server.log(), server.log()[-5000:]


@pytest.fixture(scope="module")
def db(mail_server: Server) -> Iterator[Database]:
    database = Database(f"sqlite:///{mail_server.data_dir / 'townhall.db'}")
    yield database
    database.close()


def me(client: httpx.Client) -> dict:
    return client.get("/api/me").json()


def with_address(db: Database, client: httpx.Client) -> str:
    """Give this account a confirmed address (as if it had followed the link)."""
    user = me(client)
    address = f"{user['username']}@example.org"
    with db.session() as s:
        row = s.get(User, user["id"])
        row.email, row.email_confirmed = address, True
    return address


def follow(fan: httpx.Client, host: httpx.Client) -> None:
    response = fan.post(f"/api/users/{me(host)['username']}/follow")
    assert response.status_code == 200, response.text


def go_live(host: httpx.Client, title: str) -> str:
    space = host.post("/api/spaces", json={"title": title})
    assert space.status_code == 201, space.text
    live = host.post(f"/api/spaces/{space.json()['id']}/live")
    assert live.status_code == 200, live.text
    return str(space.json()["id"])


def in_app(client: httpx.Client, space_id: str) -> list[dict]:
    got = client.get("/api/me/notifications").json()["notifications"]
    return [n for n in got if n["space_id"] == space_id]


def arrives(inbox: Inbox, address: str, title: str) -> EmailMessage:
    return wait_until(lambda: inbox.about(address, title), f"an email to {address} about "
                      f"{title!r}", timeout=WAIT)[0]


def unsubscribe_url(message: EmailMessage) -> str:
    # (a long header may be folded: the parsed value keeps the folding space)
    found = re.fullmatch(r"<(\S+)>", str(message["List-Unsubscribe"]).strip())
    assert found, message["List-Unsubscribe"]
    return found[1]


def metric(server: Server, outcome: str) -> float:
    text = httpx.get(f"{server.base_url}/metrics").text
    found = re.search(r'townhall_notifications_total\{channel="email",outcome="%s"\} (\S+)'
                      % outcome, text)
    assert found, text[-2000:]
    return float(found[1])


@pytest.fixture
def people(mail_server: Server) -> Iterator[list[httpx.Client]]:
    clients = [signed_in_client(mail_server.base_url, p) for p in ("mhost", "mfan", "mfan")]
    yield clients
    for c in clients:
        c.close()


# -- against a running server -----------------------------------------------------------
def test_a_follower_is_emailed_when_the_host_goes_live(mail_server, smtp, db, people) -> None:  # type: ignore[no-untyped-def]
    inbox, _ = smtp
    host, fan, _ = people
    follow(fan, host)
    address = with_address(db, fan)
    host_name = me(host)["username"]
    space_id = go_live(host, "Dawn chorus, live from the marsh")
    message = arrives(inbox, address, "Dawn chorus")

    assert host_name in message["Subject"] and "live" in message["Subject"]
    assert message["From"] == SENDER and message["To"] == address
    space_url = f"{mail_server.base_url}/s/{space_id}"
    text = message.get_body(("plain",)).get_content()
    page = message.get_body(("html",)).get_content()
    assert space_url in text and f'href="{space_url}"' in page
    assert f"because you follow {host_name}" in text
    assert f"{mail_server.base_url}/settings" in text and "/settings" in page
    # RFC 8058: the one-click URL in the headers, and the same link visible in the body.
    link = unsubscribe_url(message)
    assert link.startswith(f"{mail_server.base_url}/api/unsubscribe?token=")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link in text and link.replace("&", "&amp;") in page
    assert metric(mail_server, "sent") >= 1


def test_live_turned_off_for_email_still_arrives_in_the_app(mail_server, smtp, db, people) -> None:  # type: ignore[no-untyped-def]
    inbox, _ = smtp
    host, fan, quiet = people
    follow(fan, host)
    follow(quiet, host)
    fan_address, quiet_address = with_address(db, fan), with_address(db, quiet)
    off = quiet.patch("/api/me/settings", json={"notifications": {"live": {"email": False}}})
    assert off.status_code == 200, off.text
    space_id = go_live(host, "Only some inboxes")
    arrives(inbox, fan_address, "Only some inboxes")  # the same batch: it has been sent
    wait_until(lambda: in_app(quiet, space_id), "the in-app notification", timeout=WAIT)
    assert inbox.to(quiet_address) == []


def test_one_click_unsubscribe_once_then_409_and_forged_400(mail_server, smtp, db, people) -> None:  # type: ignore[no-untyped-def]
    inbox, _ = smtp
    host, fan, other = people
    follow(fan, host)
    follow(other, host)
    address, other_address = with_address(db, fan), with_address(db, other)
    go_live(host, "Unsubscribe me")
    link = unsubscribe_url(arrives(inbox, address, "Unsubscribe me"))
    url = urlsplit(link)
    token = url.query.removeprefix("token=")
    api = httpx.Client(base_url=mail_server.base_url, timeout=20)  # no session: a mail client

    # Opening the link shows a page asking first (a link scanner changes nothing).
    page = api.get(f"{url.path}?{url.query}", headers={"Accept": "text/html"})
    assert page.status_code == 200 and 'data-action="/api/unsubscribe?token=' in page.text
    assert "goes live" in page.text
    assert fan.get("/api/me/settings").json()["notifications"]["live"]["email"] is True

    done = api.post(f"{url.path}?{url.query}", content=b"List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200, done.text
    assert (done.json()["kind"], done.json()["channel"]) == ("live", "email")
    assert "goes live" in done.json()["detail"] and done.json()["settings_url"] == "/settings"
    choices = fan.get("/api/me/settings").json()["notifications"]
    assert choices["live"] == {"app": True, "email": False, "push": True}
    assert choices["scheduled"]["email"] is True  # only the kind in the link

    again = api.post(f"{url.path}?{url.query}", content=b"List-Unsubscribe=One-Click")
    assert again.status_code == 409 and again.json()["code"] == "already_unsubscribed"
    assert "already unsubscribed" in again.json()["detail"]

    user_id, kind, sig = token.split(".")
    forged = [f"{user_id}.{kind}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}",
              f"{me(other)['id']}.{kind}.{sig}",  # someone else's id with this signature
              f"{user_id}.scheduled.{sig}", "x", token[:-3], token + "x" * 300]
    for bad in forged:
        refused = api.post("/api/unsubscribe", params={"token": bad})
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["code"] == "invalid_link"
        assert "not valid" in refused.json()["detail"]
    bad_page = api.get("/api/unsubscribe", params={"token": forged[0]},
                       headers={"Accept": "text/html"})
    assert bad_page.status_code == 400 and "does not work" in bad_page.text
    assert other.get("/api/me/settings").json()["notifications"]["live"]["email"] is True
    assert api.post("/api/unsubscribe").status_code == 422  # no token at all

    # Next time the host goes live: the app still tells them, their inbox does not.
    second = go_live(host, "After unsubscribing")
    arrives(inbox, other_address, "After unsubscribing")
    wait_until(lambda: in_app(fan, second), "the in-app notification", timeout=WAIT)
    assert inbox.about(address, "After unsubscribing") == []
    api.close()


def test_a_refused_recipient_does_not_stop_the_others(mail_server, smtp, db, people) -> None:  # type: ignore[no-untyped-def]
    inbox, _ = smtp
    host, first, last = people
    refused = signed_in_client(mail_server.base_url, "mrefused")
    for fan in (first, refused, last):  # the refused one between the others
        follow(fan, host)
    first_address, last_address = with_address(db, first), with_address(db, last)
    with db.session() as s:
        row = s.get(User, me(refused)["id"])
        row.email, row.email_confirmed = REFUSED, True
    failed_before = metric(mail_server, "failed")
    go_live(host, "Some mailboxes are missing")
    arrives(inbox, first_address, "Some mailboxes are missing")
    arrives(inbox, last_address, "Some mailboxes are missing")
    assert inbox.to(REFUSED) == []
    wait_until(lambda: metric(mail_server, "failed") >= failed_before + 1,
               "the refusal counted", timeout=WAIT)
    wait_until(lambda: f"{REFUSED} refused: 550" in mail_server.log(), "the refusal logged",
               timeout=WAIT)
    refused.close()


def test_a_new_address_gets_mail_only_once_confirmed(mail_server, smtp, db, people) -> None:  # type: ignore[no-untyped-def]
    inbox, _ = smtp
    host, fan, control = people
    follow(fan, host)
    follow(control, host)
    control_address = with_address(db, control)
    address = f"{me(fan)['username']}@example.org"
    saved = fan.patch("/api/me/settings", json={"email": address})
    assert saved.status_code == 200 and saved.json()["email_confirmed"] is False
    confirmation = arrives(inbox, address, "Confirm your email address")
    assert confirmation["List-Unsubscribe"] is None  # not a notification
    text = confirmation.get_body(("plain",)).get_content()
    found = re.search(r"(http://\S+/api/email/confirm\?token=\S+)", text)
    assert found, text
    link = urlsplit(found[1])

    # Not yet confirmed: the host goes live, the control follower is emailed, they are not.
    go_live(host, "Before confirming")
    arrives(inbox, control_address, "Before confirming")
    assert inbox.about(address, "Before confirming") == []

    api = httpx.Client(base_url=mail_server.base_url, timeout=20)
    page = api.get(f"{link.path}?{link.query}", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "Confirm" in page.text
    assert fan.get("/api/me/settings").json()["email_confirmed"] is False  # a GET did nothing
    done = api.post(f"{link.path}?{link.query}")
    assert done.status_code == 200 and done.json()["email"] == address, done.text
    assert fan.get("/api/me/settings").json()["email_confirmed"] is True
    again = api.post(f"{link.path}?{link.query}")
    assert again.status_code == 409 and again.json()["code"] == "already_confirmed"

    go_live(host, "After confirming")
    arrives(inbox, address, "After confirming")

    # A link for an address no longer on the account does nothing.
    assert fan.patch("/api/me/settings", json={"email": "moved-" + address}).status_code == 200
    stale = api.post(f"{link.path}?{link.query}")
    assert stale.status_code == 400 and stale.json()["code"] == "invalid_link"
    assert fan.get("/api/me/settings").json()["email_confirmed"] is False
    api.close()


# -- in process ---------------------------------------------------------------------------
def test_email_is_off_without_an_smtp_host(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'off.db'}")
    try:
        off = Settings(data_dir=tmp_path, smtp_host="")
        assert email_channel(database, off) is None
        names = [c.name for c in Services._notification_channels(  # type: ignore[arg-type]
            SimpleNamespace(db=database, settings=off))]
        assert "email" not in names
        on = Settings(data_dir=tmp_path, smtp_host="127.0.0.1")
        assert isinstance(email_channel(database, on), EmailChannel)
        assert "email" in [c.name for c in Services._notification_channels(  # type: ignore[arg-type]
            SimpleNamespace(db=database, settings=on))]
    finally:
        database.close()


def test_tokens_are_bound_to_their_key_and_purpose(tmp_path: Path) -> None:
    links = EmailLinks(b"k" * 32, "https://townhall.example")
    assert links.read_unsubscribe(links.unsubscribe_token(7, "live")) == (7, "live")
    other = EmailLinks(b"j" * 32, "https://townhall.example")
    with pytest.raises(Exception, match="not valid"):
        other.read_unsubscribe(links.unsubscribe_token(7, "live"))
    with pytest.raises(Exception, match="not valid"):
        links.read_unsubscribe(links.unsubscribe_token(7, "gossip"))
    user_id, exp, sig = links.read_confirm(links.confirm_token(7, "a@example.org", 1000.0))
    links.confirms(user_id, exp, sig, "a@example.org", 1000.0)
    with pytest.raises(Exception, match="not for the address"):
        links.confirms(user_id, exp, sig, "b@example.org", 1000.0)
    with pytest.raises(Exception, match="expired"):
        links.confirms(user_id, exp, sig, "a@example.org", exp + 1.0)


FOLLOWERS = 230
BATCH = 100
CHUNK = 40


async def test_a_batch_goes_out_over_one_connection_in_chunks(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    """The worker's batches of 100 reach the mail channel; each goes out over one SMTP
    connection in chunks of 40 (progress logged); the refused address in the middle is
    counted as failed and everyone else gets exactly one message with their own
    unsubscribe link."""
    caplog.set_level(logging.INFO, logger="townhall.app.mailer")
    database = Database(f"sqlite:///{tmp_path / 'batch.db'}")
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    with database.session() as s:
        host = User(username="bighost", password_hash="x", display_name="Big Host")
        s.add(host)
        s.flush()
        host_id = host.id
        s.add(Space(id="bigmail", title="Everyone at once", host_id=host_id))
        s.execute(insert(User), [
            {"id": host_id + 1 + i, "username": f"reader{i}", "password_hash": "x",
             "display_name": "", "bio": "", "email_confirmed": True,
             "email": REFUSED if i == FOLLOWERS // 2 else f"reader{i}@example.org"}
            for i in range(FOLLOWERS)])
        s.execute(insert(Follow), [{"follower_id": host_id + 1 + i, "followee_id": host_id}
                                   for i in range(FOLLOWERS)])
    links = EmailLinks(b"s" * 32, "https://townhall.example")
    channel = EmailChannel(database, SmtpServer("127.0.0.1", port, "none"), links, SENDER,
                           chunk=CHUNK)
    notifier = Notifier(database, batch=BATCH, channels=(channel,))
    notifier.start()
    try:
        notifier.enqueue(Job(LIVE, "bigmail", host_id))
        await asyncio.wait_for(notifier.idle(), 60)
    finally:
        await notifier.close()
        controller.stop()
        database.close()

    addresses = [rcpt for rcpt, _, _ in inbox.received]
    assert len(addresses) == FOLLOWERS - 1 == len(set(addresses))
    assert REFUSED not in addresses
    assert channel.counts["sent"] == FOLLOWERS - 1 and channel.counts["failed"] == 1
    batches = -(-FOLLOWERS // BATCH)
    assert len({peer for _, _, peer in inbox.received}) == batches  # one connection each
    tokens = {unsubscribe_url(m) for _, m, _ in inbox.received}
    assert len(tokens) == FOLLOWERS - 1  # everyone's link is their own
    assert all("Big Host is live: Everyone at once" == m["Subject"] for _, m, _ in inbox.received)
    assert f"emailing live of Space bigmail: {CHUNK} of {BATCH} done" in caplog.text
    assert f"emailed {BATCH} people" in caplog.text
