"""Settings, read once from the environment (prefix TOWNHALL_) or a .env file."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Callable
from functools import cached_property
from typing import Literal
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from townhall import limits

REPO_ROOT = Path(__file__).resolve().parent.parent

# Where WebRTC peers may be: loopback and private networks. A public server adds its
# own ranges; a server reachable from anywhere sets "0.0.0.0/0,::/0".
DEFAULT_ALLOWED_NETWORKS = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
# The server's signing secret (TOWNHALL_HLS_SIGNING_SECRET, else this file in data_dir):
# signed HLS URLs use it, and emailed links use a key derived from it.
SECRET_FILE = "hls-signing-secret"
MIN_SECRET_LENGTH = 16


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOWNHALL_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    # Public base URL used in links printed to users; derived from host/port if empty.
    public_url: str = ""
    data_dir: Path = Path("townhall-data")
    database_url: str = ""  # default: SQLite file in data_dir; clusters: postgresql+psycopg://…
    # Cluster mode: every origin node names the same Redis (segments, playlists, events,
    # media leases, audience). Empty: one node with everything in process.
    redis_url: str = ""
    # How speakers and other nodes reach this node directly (WHIP is redirected to the
    # node that owns a Space's media). Default: base_url.
    node_url: str = ""
    # Recordings may live on their own volume; default: data_dir/recordings.
    recordings_dir: Path | None = None
    # ICE host addresses the server advertises: "auto" = every non-loopback interface
    # (aioice's choice), or a comma list such as "127.0.0.1".
    ice_host_addresses: str = "auto"
    # Remote ICE candidates outside these networks are dropped before use.
    ice_allowed_networks: str = DEFAULT_ALLOWED_NETWORKS
    # Directory holding hls.js's dist/ (installed from npm by the setup step).
    hlsjs_dir: Path = REPO_ROOT / "node_modules" / "hls.js" / "dist"
    dashjs_dir: Path = REPO_ROOT / "node_modules" / "dashjs" / "dist"
    session_cookie_secure: bool = False
    # Sign-ins and sign-ups allowed in a row from one client address (then rate-limited).
    signin_burst: int = Field(limits.SIGNIN_BURST, ge=1)
    signup_burst: int = Field(limits.SIGNUP_BURST, ge=1)
    # Per account: Spaces created in a row, scheduled at once, and live at once (the
    # defaults are the named limits; a test rig whose users share one host raises them).
    space_create_burst: int = Field(limits.SPACE_CREATE_BURST, ge=1)
    max_scheduled_spaces_per_host: int = Field(limits.MAX_SCHEDULED_SPACES_PER_HOST, ge=1)
    max_live_spaces_per_host: int = Field(limits.MAX_LIVE_SPACES_PER_HOST, ge=1)
    # Share of one core this node plans to spend mixing (limits.MIX_BUDGET): beyond it
    # a go-live or a new speaker gets 503 node_full with Retry-After.
    mix_budget: float = Field(limits.MIX_BUDGET, gt=0)
    # Seconds a request may take to arrive whole (headers and body).
    request_timeout: float = Field(limits.REQUEST_TIMEOUT, gt=0)
    stage_token_burst: int = Field(limits.STAGE_TOKEN_BURST, ge=1)
    invite_link_burst: int = Field(limits.INVITE_LINK_BURST, ge=1)
    # Listeners counted per client address (audience beacons are limited to match).
    listeners_per_address: int = Field(limits.LISTENERS_PER_ADDRESS, ge=1)
    # Live-event streams open at once per client address, and on this node in all.
    event_streams_per_address: int = Field(limits.EVENT_STREAMS_PER_ADDRESS, ge=1)
    max_event_streams: int = Field(limits.MAX_EVENT_STREAMS, ge=1)
    # Incident timeline: the length of one bucket (a minute; tests shorten it), and the
    # edge's access log (`townhall_edge` format) to read the traffic figures from when
    # an edge sits in front (its path on this machine, or a shared volume).
    timeline_bucket_seconds: float = Field(limits.TIMELINE_BUCKET_SECONDS, gt=0, le=3600)
    edge_access_log: Path | None = None
    # Proxies (the nginx edge) whose X-Forwarded-For names the real client: rate limits
    # and audience counts then go by the listener's address, not the edge's.
    trusted_proxies: str = "127.0.0.1,::1"
    # Who may read /metrics (it names every live Space, private ones too): this machine
    # by default; add the Prometheus server's network.
    metrics_networks: str = "127.0.0.0/8,::1"
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    # "json": one JSON object per line (for log pipelines); "text" for people.
    log_format: Literal["text", "json"] = "text"
    # Live captions and transcripts (townhall/media/captions): on by default where the
    # model is installed (a host may switch them off per Space); at most
    # `captions_max_spaces` captioned Spaces on this node (0: CAPTIONED_SPACES_PER_CORE
    # per core); `captions_model_dir`: any faster-whisper model directory instead of the
    # packaged Whisper tiny.en (whose files are checked against pinned SHA-256 sums).
    captions: bool = True
    captions_max_spaces: int = Field(0, ge=0)
    captions_model_dir: Path | None = None
    # Key for private Spaces' signed HLS URLs (delivery/signed.py), >= 16 characters.
    # Empty: a random one kept in data_dir/hls-signing-secret. Every origin in a cluster
    # must use the same secret, or a URL one node signed is refused by the others.
    hls_signing_secret: str = Field("", repr=False)
    # The lifecycle, in seconds (townhall/app/lifecycle.py; the defaults are the named
    # limits): host-absent warning and end, "now" Spaces expiring, Upcoming's grace, and
    # how often the checks run (a test rig shortens them to seconds).
    host_absent_warning: float = Field(limits.HOST_ABSENT_WARNING, gt=0)
    host_absent_end: float = Field(limits.HOST_ABSENT_END, gt=0)
    lifecycle_check_every: float = Field(limits.LIFECYCLE_CHECK_EVERY, gt=0)
    now_space_expiry: float = Field(limits.NOW_SPACE_EXPIRY, gt=0)
    upcoming_grace: float = Field(limits.UPCOMING_GRACE, ge=0)
    sweep_every: float = Field(limits.SWEEP_EVERY, gt=0)
    # Replays (townhall/app/recordings.py): kept this many days after the Space ends, 0
    # for good; the host is told `replay_expiry_notice_days` before; how often a node
    # looks (seconds). Fractions of a day are allowed (a test rig).
    replay_retention_days: float = Field(limits.REPLAY_RETENTION_DAYS, ge=0)
    replay_expiry_notice_days: float = Field(limits.REPLAY_EXPIRY_NOTICE_DAYS, ge=0)
    retention_check_every: float = Field(limits.RETENTION_CHECK_EVERY, gt=0)
    # Notification emails (townhall/app/mailer.py): off while smtp_host is empty.
    smtp_host: str = ""
    smtp_port: int = Field(587, ge=1, le=65535)
    # Empty: no login (a local relay).
    smtp_username: str = ""
    smtp_password: str = Field("", repr=False)
    # "starttls" (port 587), "ssl" (implicit TLS, port 465), or "none" (a relay on this
    # machine or a private network only: the password and mail then travel in clear).
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    # The From address; empty: townhall@ the public URL's host name.
    smtp_from: str = ""
    # Web Push (townhall/app/webpush.py). The VAPID key that signs every push: a P-256
    # private key, PEM or base64url (the raw 32 bytes, as `vapid --gen` or web-push's
    # generate-vapid-keys print it). Empty: one made once and kept in
    # data_dir/vapid-private-key.pem. Browsers subscribe to this key: changing it stops
    # every subscription, and every origin of a cluster must use the same one.
    vapid_private_key: str = Field("", repr=False)
    # Whom push services contact about this server's pushes (VAPID "sub"): a mailto: or
    # https: URL. Empty: the public URL when it is https, else mailto:townhall@<its host>.
    vapid_subject: str = ""
    # Networks push endpoints may be on besides the public internet: none by default.
    # The server POSTs to whatever endpoint a browser names, so a private, loopback or
    # link-local address would let anyone make it call into the operator's network. Tests
    # name 127.0.0.0/8 for their local push service (plain http:// is accepted only to
    # loopback addresses named here); a LAN push service (e.g. self-hosted) adds its own.
    push_endpoint_networks: str = ""
    # Edges that fan the one-stream listener path out (nginx + Nchan: deploy/nginx/),
    # comma-separated base URLs (http://10.0.0.5:8080): the node mixing a Space publishes
    # each chunk to each (townhall/backends/stream_edges.py). Empty: listeners' streams
    # come from the origins themselves.
    stream_edges: str = ""

    @field_validator("stream_edges")
    @classmethod
    def _stream_edges(cls, value: str) -> str:
        parse_stream_edges(value)
        return value

    @field_validator("ice_allowed_networks", "metrics_networks", "push_endpoint_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        """Checked when the settings are read, not when the first speaker connects."""
        _parse_networks(value)
        return value

    @field_validator("hls_signing_secret")
    @classmethod
    def _signing_secret(cls, value: str) -> str:
        if value and len(value) < 16:
            raise ValueError("give at least 16 characters (e.g. openssl rand -hex 32)")
        return value

    @field_validator("vapid_subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        if value and not (value.startswith("https://") or (
                value.startswith("mailto:") and "@" in value)):
            raise ValueError("give a mailto: address or an https: URL (RFC 8292's 'sub')")
        return value

    @field_validator("ice_host_addresses")
    @classmethod
    def _addresses(cls, value: str) -> str:
        _parse_addresses(value)
        return value

    @property
    def stream_edge_urls(self) -> list[str]:
        return parse_stream_edges(self.stream_edges)

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host.strip())

    @cached_property
    def email_from(self) -> str:
        if self.smtp_from.strip():
            return self.smtp_from.strip()
        host = urlsplit(self.base_url).hostname or "localhost"
        try:  # an address is no mail domain
            ipaddress.ip_address(host)
            host = "localhost"
        except ValueError:
            pass
        return f"Townhall <townhall@{host}>"

    @cached_property
    def base_url(self) -> str:
        """Where people reach this server: public_url, else the bound address (a
        wildcard bind is reached on loopback from this machine)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @cached_property
    def push_subject(self) -> str:
        """VAPID's contact for push services (vapid_subject, else from the public URL)."""
        if self.vapid_subject:
            return self.vapid_subject
        if self.base_url.startswith("https://"):
            return self.base_url
        return f"mailto:townhall@{urlsplit(self.base_url).hostname or 'localhost'}"

    @cached_property
    def push_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return _parse_networks(self.push_endpoint_networks)

    @property
    def cluster(self) -> bool:
        return bool(self.redis_url)

    @cached_property
    def own_url(self) -> str:
        return self.node_url.rstrip("/") or self.base_url

    @cached_property
    def allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return _parse_networks(self.ice_allowed_networks)

    def may_read_metrics(self, address: str | None) -> bool:
        try:
            client = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(client in network for network in _parse_networks(self.metrics_networks))

    @cached_property
    def advertised_addresses(self) -> list[str] | None:
        """None means aioice's automatic choice."""
        return _parse_addresses(self.ice_host_addresses)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'townhall.db'}"

    @property
    def captioned_spaces_cap(self) -> int:
        if self.captions_max_spaces:
            return self.captions_max_spaces
        return max(1, int((os.cpu_count() or 1) * limits.CAPTIONED_SPACES_PER_CORE))

    @property
    def recordings_path(self) -> Path:
        return self.recordings_dir or self.data_dir / "recordings"


def keep_once(path: Path, make: Callable[[], bytes]) -> None:
    """A secret kept in a file: made by `make` and written (private, fsynced) unless the
    file exists. Processes starting at once each write a file of their own and link it
    into place; the first wins and the others read its secret."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(make())
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # fails if another process made it first: theirs wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def load_signing_secret(configured: str, data_dir: Path) -> bytes:
    """The configured secret, else the one in the data dir (made once, kept across
    restarts so URLs stay valid; created atomically so two processes agree). Blocking:
    call it from a thread or at startup."""
    if configured:
        if len(configured) < MIN_SECRET_LENGTH:
            raise ValueError(f"TOWNHALL_HLS_SIGNING_SECRET needs at least {MIN_SECRET_LENGTH} characters")
        return configured.encode()
    path = data_dir / SECRET_FILE
    keep_once(path, lambda: (secrets.token_hex(32) + "\n").encode())
    secret = path.read_text().strip()
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"{path} holds no usable secret: delete it to make a new one")
    return secret.encode()


def _parse_networks(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for item in (n.strip() for n in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item[:60]!r} is not a network: give CIDRs such as 10.0.0.0/8") from None
    return networks


def _parse_addresses(value: str) -> list[str] | None:
    value = value.strip()
    if value in ("", "auto"):
        return None
    addresses = [a.strip() for a in value.split(",") if a.strip()]
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ValueError(f"{address[:60]!r} is not an IP address: give 'auto' or IPs") from None
    return addresses


def parse_stream_edges(value: str) -> list[str]:
    """TOWNHALL_STREAM_EDGES: comma-separated base URLs (http://host:port) of edges."""
    edges = []
    for item in filter(None, (v.strip() for v in value.split(","))):
        url = urlsplit(item)
        if url.scheme not in ("http", "https") or not url.hostname or url.path not in ("", "/"):
            raise ValueError(f"a stream edge is a base URL like http://10.0.0.5:8080, got {item!r}")
        edges.append(item.rstrip("/"))
    return edges
