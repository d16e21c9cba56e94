"""Notification email over SMTP (on when TOWNHALL_SMTP_HOST is set).

For each batch the notifier offers (townhall/app/notifier.py: people allowed to view the
Space, not blocked by its host, who did not turn this kind off for email),
`EmailChannel.send` reads the Space's title, the actor's name and the confirmed
addresses on a DATABASE thread, then composes and sends one message per person on the
MAIL thread (townhall/threads.py): smtplib blocks, so it never runs on the event loop.
A batch uses ONE SMTP connection, handed EMAIL_SEND_CHUNK messages per turn of the
thread, progress logged and counted between turns (`counts`, read by /metrics). A
recipient the server refuses is counted as failed and the rest go on; a dropped
connection is opened again (SMTP_RECONNECTS times per batch); a server that cannot be
reached fails the rest of that batch, counted and logged once.

Every message is plain text with an HTML alternative: the sentence, a link to the Space,
why the person got it, a link to their choices (/settings) and a one-click unsubscribe
link, also in the headers (`List-Unsubscribe` and `List-Unsubscribe-Post`, RFC 8058),
so a mail client's own "unsubscribe" button works without opening anything. The link
carries a token signing (user id, kind): POSTing it turns that kind off for email only
(http/api/email.py). Tokens are HMAC-SHA256 with a key derived from the server's signing
secret (config.load_signing_secret), so every origin of a cluster accepts them.

Mail goes only to an address its owner proved is theirs: a new address gets one message
with a confirmation link (`send_confirmation`, queued like a batch), signed over (user
id, address, expiry), so it stops working when the address changes or after
EMAIL_CONFIRM_VALIDITY.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import logging
import re
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import urlsplit

from townhall import limits, threads
from townhall.app.notifier import INVITED, LIVE, REMINDER, SCHEDULED, Channel, Delivery, sentence
from townhall.config import Settings, load_signing_secret
from townhall.domain.errors import INVALID_LINK, BadRequest
from townhall.store import delivery as store
from townhall.store.db import Database
from townhall.store.models import Space, User

log = logging.getLogger(__name__)

# Not a kind of notification: the message that proves a new address (queued like one).
CONFIRM = "confirm"
# Why someone got a message ({actor}: the host or whoever invited them).
WHY = {
    LIVE: "You get this because you follow {actor} on Townhall.",
    SCHEDULED: "You get this because you follow {actor} on Townhall.",
    REMINDER: "You get this because you set a reminder for this Space.",
    INVITED: "You get this because {actor} invited you to speak.",
}
# What one click on the unsubscribe link turns off.
WHAT = {
    LIVE: "emails when someone you follow goes live",
    SCHEDULED: "emails when someone you follow schedules a Space",
    REMINDER: "emails when a Space you set a reminder for starts",
    INVITED: "emails when you are invited to speak",
}
# What the Space link does.
ACTIONS = {LIVE: "Listen live", REMINDER: "Listen live", SCHEDULED: "See when it starts",
           INVITED: "Join the stage"}
SIG_BYTES = 16  # 128 bits of HMAC-SHA256: 22 base64url characters
_UNSUBSCRIBE = re.compile(r"(?P<user>[1-9][0-9]{0,17})\.(?P<kind>[a-z]{1,20})\."
                          r"(?P<sig>[A-Za-z0-9_-]{22})")
_CONFIRM = re.compile(r"(?P<user>[1-9][0-9]{0,17})\.(?P<exp>[1-9][0-9]{0,11})\."
                      r"(?P<sig>[A-Za-z0-9_-]{22})")


# -- signed links -----------------------------------------------------------------------
class EmailLinks:
    """The links emails carry, signed so nobody can unsubscribe or confirm for someone
    else: unsubscribe (user id, kind; no expiry: an old email's link still works) and
    confirm (user id, address, expiry)."""

    def __init__(self, secret: bytes, base_url: str) -> None:
        # Its own key, so a token of one purpose is never valid for another.
        self._key = hmac.new(secret, b"townhall email links v1", hashlib.sha256).digest()
        self.base_url = base_url.rstrip("/")

    def _sign(self, text: str) -> str:
        mac = hmac.new(self._key, text.encode(), hashlib.sha256).digest()[:SIG_BYTES]
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def unsubscribe_token(self, user_id: int, kind: str) -> str:
        return f"{user_id}.{kind}.{self._sign(f'unsubscribe:{user_id}:{kind}')}"

    def unsubscribe_url(self, user_id: int, kind: str) -> str:
        return f"{self.base_url}/api/unsubscribe?token={self.unsubscribe_token(user_id, kind)}"

    def read_unsubscribe(self, token: str) -> tuple[int, str]:
        """(user id, kind) of a genuine unsubscribe token; BadRequest otherwise."""
        found = _UNSUBSCRIBE.fullmatch(token) if len(token) <= limits.MAX_EMAIL_TOKEN_LENGTH else None
        if found is None or found["kind"] not in store.KINDS:
            raise BadRequest("This unsubscribe link is not valid: it may have been cut short. "
                             "Open it from the email again, or choose on /settings.",
                             code=INVALID_LINK)
        user_id, kind = int(found["user"]), found["kind"]
        if not hmac.compare_digest(found["sig"], self._sign(f"unsubscribe:{user_id}:{kind}")):
            raise BadRequest("This unsubscribe link is not valid (its signature does not "
                             "match). Open it from the email again, or choose on /settings.",
                             code=INVALID_LINK)
        return user_id, kind

    def confirm_token(self, user_id: int, address: str, now: float) -> str:
        exp = int(now) + limits.EMAIL_CONFIRM_VALIDITY
        return f"{user_id}.{exp}.{self._sign(f'confirm:{user_id}:{exp}:{address}')}"

    def confirm_url(self, user_id: int, address: str, now: float) -> str:
        return (f"{self.base_url}/api/email/confirm?token="
                f"{self.confirm_token(user_id, address, now)}")

    def read_confirm(self, token: str) -> tuple[int, int, str]:
        """(user id, expiry, signature) of a well-formed confirm token (`confirms` then
        checks it against the account's address); BadRequest otherwise."""
        found = _CONFIRM.fullmatch(token) if len(token) <= limits.MAX_EMAIL_TOKEN_LENGTH else None
        if found is None:
            raise BadRequest("This confirmation link is not valid: it may have been cut "
                             "short. Open it from the email again.", code=INVALID_LINK)
        return int(found["user"]), int(found["exp"]), found["sig"]

    def confirms(self, user_id: int, exp: int, sig: str, address: str, now: float) -> None:
        """Raise BadRequest unless this token was made for this address and is not out
        of date."""
        if not hmac.compare_digest(sig, self._sign(f"confirm:{user_id}:{exp}:{address}")):
            raise BadRequest("This confirmation link is not for the address on your account "
                             "now (or it was altered). Use the link in the newest email.",
                             code=INVALID_LINK)
        if exp < now:
            raise BadRequest("This confirmation link has expired. Save your address again "
                             "on /settings to get a new one.", code=INVALID_LINK)


def links_for(settings: Settings) -> EmailLinks:
    """This deployment's links (reads or makes the secret file: blocking)."""
    return EmailLinks(load_signing_secret(settings.hls_signing_secret, settings.data_dir),
                      settings.base_url)


# -- the SMTP side ----------------------------------------------------------------------
@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str  # "starttls", "ssl" or "none"
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = limits.SMTP_TIMEOUT

    @classmethod
    def of(cls, settings: Settings) -> SmtpServer:
        return cls(settings.smtp_host.strip(), settings.smtp_port, settings.smtp_security,
                   settings.smtp_username, settings.smtp_password)

    def connect(self) -> smtplib.SMTP:
        """A connection ready to send (blocking: on the MAIL thread)."""
        if self.security == "ssl":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout,
                context=ssl.create_default_context())
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                connection.starttls(context=ssl.create_default_context())
            if self.username:
                connection.login(self.username, self.password)
        except BaseException:
            connection.close()
            raise
        return connection


@dataclass(frozen=True)
class Mail:
    """What one batch says and to whom, read from the database."""

    kind: str
    space_id: str
    actor: str  # the host's (or inviter's) name; for CONFIRM, the account's username
    title: str
    to: tuple[tuple[int, str], ...]  # (user id, address)


class _Session:
    """One SMTP connection for one batch (used on the MAIL thread only): opened on the
    first message, opened again when the server drops it, closed at the end."""

    def __init__(self, server: SmtpServer, sender: str) -> None:
        self.server = server
        self.sender = sender
        self.envelope_from = parseaddr(sender)[1] or sender
        self.connection: smtplib.SMTP | None = None
        self.reconnects = 0
        # Set once the server cannot be reached: the rest of the batch fails with it.
        self.broken: str | None = None

    def send(self, messages: list[tuple[str, EmailMessage]]) -> tuple[int, list[str]]:
        """Send each (address, message); how many the server took and why others failed."""
        sent, failures = 0, []
        for address, message in messages:
            problem = self._one(address, message)
            if problem is None:
                sent += 1
            else:
                failures.append(problem)
        return sent, failures

    def _one(self, address: str, message: EmailMessage) -> str | None:
        while True:
            if self.broken is not None:
                return self.broken
            if self.connection is None:
                try:
                    self.connection = self.server.connect()
                except (OSError, smtplib.SMTPException) as exc:
                    self.broken = (f"cannot use the mail server {self.server.host}:"
                                   f"{self.server.port}: {_why(exc)}")
                    return self.broken
            try:
                self.connection.send_message(message, self.envelope_from, [address])
                return None
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = exc.recipients.get(address, (0, b""))
                return f"{address} refused: {code} {_text(text)}"
            except smtplib.SMTPResponseException as exc:  # the message or sender refused
                if exc.smtp_code != 421:  # 421: the server is closing: reconnect below
                    return f"{address}: {exc.smtp_code} {_text(exc.smtp_error)}"
                dropped: BaseException = exc
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                dropped = exc
            except (smtplib.SMTPException, ValueError, UnicodeError) as exc:
                # e.g. an address the server cannot take (non-ASCII without SMTPUTF8).
                return f"{address}: {_why(exc)}"
            self._drop()
            if self.reconnects >= limits.SMTP_RECONNECTS:
                self.broken = f"the mail server keeps dropping the connection: {_why(dropped)}"
                return self.broken
            self.reconnects += 1

    def _drop(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except OSError:
                pass
        self.connection = None

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._drop()


def _text(value: bytes | str) -> str:
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())[:200]


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_text(str(exc))}"


def _one_line(text: str) -> str:
    """Header-safe: a title's line breaks and runs of spaces become one space."""
    return " ".join(text.split())


# -- the channel ------------------------------------------------------------------------
class EmailChannel(Channel):
    name = store.EMAIL

    def __init__(self, db: Database, server: SmtpServer, links: EmailLinks, sender: str,
                 queue_size: int = limits.DELIVERY_QUEUE_SIZE,
                 chunk: int = limits.EMAIL_SEND_CHUNK) -> None:
        super().__init__(queue_size)
        self.db = db
        self.server = server
        self.links = links
        self.sender = sender
        self.chunk = chunk
        self._domain = (parseaddr(sender)[1].rpartition("@")[2]
                        or urlsplit(links.base_url).hostname or "localhost")

    async def send_confirmation(self, user_id: int) -> None:
        """Queue the message with the link that proves a new address is its owner's
        (called by Services.confirm_email after the address changed; never waits for
        the mail server)."""
        self.offer(Delivery(CONFIRM, "", user_id, (user_id,)))

    async def send(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        mail = await threads.run(threads.DATABASE, self._read, delivery)
        if not mail.to:
            return
        session = _Session(self.server, self.sender)
        sent, failures = 0, []
        try:
            for start in range(0, len(mail.to), self.chunk):
                part = mail.to[start:start + self.chunk]
                took, failed = await threads.run(threads.MAIL, self._send, session, mail, part)
                self.counts["sent"] += took
                self.counts["failed"] += len(failed)
                sent += took
                failures += failed
                if len(mail.to) > self.chunk:
                    log.info("emailing %s of Space %s: %d of %d done, %d failed", mail.kind,
                             mail.space_id, start + len(part), len(mail.to), len(failures))
        finally:
            await threads.run(threads.MAIL, session.close)
        if failures:
            log.warning("email %s of Space %s: %d of %d failed (first: %s)", mail.kind,
                        mail.space_id, len(failures), len(mail.to), failures[0])
        log.info("emailed %d people (%s, Space %s) in %.2f s", sent, mail.kind,
                 mail.space_id, time.perf_counter() - started)

    def _send(self, session: _Session, mail: Mail,
              part: tuple[tuple[int, str], ...]) -> tuple[int, list[str]]:
        """Compose and send one chunk (on the MAIL thread)."""
        now = time.time()
        messages, unsendable = [], []
        for user_id, address in part:
            try:
                messages.append((address, self.compose(mail, user_id, address, now)))
            except (ValueError, TypeError) as exc:  # e.g. an address no header can hold
                unsendable.append(f"{address}: {_why(exc)}")
        sent, failures = session.send(messages)
        return sent, unsendable + failures

    def _read(self, delivery: Delivery) -> Mail:
        """Who gets this batch (confirmed addresses only) and what it says (on a
        DATABASE thread)."""
        with self.db.session() as db:
            if delivery.kind == CONFIRM:
                user = db.get(User, delivery.actor_id)
                if user is None or not user.email or user.email_confirmed:
                    return Mail(CONFIRM, "", "", "", ())
                return Mail(CONFIRM, "", user.username, "", ((user.id, user.email),))
            addresses = store.email_addresses(db, delivery.user_ids)
            actor = db.get(User, delivery.actor_id)
            space = db.get(Space, delivery.space_id)
            name = (actor.display_name or actor.username) if actor is not None else "Someone"
            return Mail(delivery.kind, delivery.space_id, name,
                        space.title if space is not None else "",
                        tuple((u, addresses[u]) for u in delivery.user_ids if u in addresses))

    def compose(self, mail: Mail, user_id: int, address: str, now: float) -> EmailMessage:
        if mail.kind == CONFIRM:
            return self._confirmation(mail, user_id, address, now)
        base = self.links.base_url
        space_url = f"{base}/s/{mail.space_id}"
        settings_url = f"{base}/settings"
        unsubscribe = self.links.unsubscribe_url(user_id, mail.kind)
        subject = _one_line(sentence(mail.kind, mail.actor, mail.title))
        why = WHY.get(mail.kind, "You get this from Townhall.").format(actor=mail.actor)
        what = WHAT.get(mail.kind, "these emails")
        action = ACTIONS.get(mail.kind, "Open the Space")
        message = self._headers(subject, address)
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(
            f"{subject}\n\n{action}: {space_url}\n\n{why}\n"
            f"Choose which emails you get: {settings_url}\n"
            f"Unsubscribe from {what}: {unsubscribe}\n")
        e = html.escape
        message.add_alternative(
            "<!doctype html><html><body style=\"font-family: sans-serif; line-height: 1.5\">"
            f"<p style=\"font-size: 1.15em\">{e(subject)}</p>"
            f"<p><a href=\"{e(space_url)}\">{e(action)}</a></p>"
            f"<p style=\"color: #666\">{e(why)}<br>"
            f"<a href=\"{e(settings_url)}\">Choose which emails you get</a> · "
            f"<a href=\"{e(unsubscribe)}\">Unsubscribe from {e(what)}</a></p>"
            "</body></html>\n", subtype="html")
        return message

    def _confirmation(self, mail: Mail, user_id: int, address: str, now: float) -> EmailMessage:
        url = self.links.confirm_url(user_id, address, now)
        days = limits.EMAIL_CONFIRM_VALIDITY // 86400
        message = self._headers("Confirm your email address for Townhall", address)
        lead = (f"Someone, we hope you (@{mail.actor}), asked for Townhall notifications "
                "at this address.")
        tail = ("If it was not you, ignore this email: nothing more is sent here unless "
                "the address is confirmed.")
        message.set_content(f"{lead}\n\nConfirm it (the link works for {days} days): {url}\n\n"
                            f"{tail}\n")
        e = html.escape
        message.add_alternative(
            "<!doctype html><html><body style=\"font-family: sans-serif; line-height: 1.5\">"
            f"<p>{e(lead)}</p><p><a href=\"{e(url)}\">Confirm this address</a> "
            f"(the link works for {days} days)</p><p style=\"color: #666\">{e(tail)}</p>"
            "</body></html>\n", subtype="html")
        return message

    def _headers(self, subject: str, address: str) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.sender
        message["To"] = address
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=self._domain)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
        return message


def email_channel(db: Database, settings: Settings) -> EmailChannel | None:
    """The channel as this deployment's settings make it, or None when SMTP is not set
    (reads or makes the signing secret file: called once at startup)."""
    if not settings.email_enabled:
        return None
    return EmailChannel(db, SmtpServer.of(settings), links_for(settings), settings.email_from)
