"""`townhall serve`, `townhall demo` and `townhall bench ...`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn
from pydantic import ValidationError
from sqlalchemy import select

from townhall.http.application import create_app
from townhall.tools.bench.cli import add_parser as add_bench_parser
from townhall.tools.bench.cli import run as run_bench
from townhall.config import Settings
from townhall.logs import configure as configure_logging
from townhall.http.common.timely import timely_protocol
from townhall.media.sources import SyntheticVoice
from townhall.domain import SpaceState
from townhall.app.runtime import MediaElsewhere, Services
from townhall.store.db import new_token
from townhall.store.models import Space, User, utcnow

log = logging.getLogger("townhall")
DEMO_USERNAME = "townhall_demo"
DEMO_SPACE_ID = "demo"
DEMO_TITLE = "Townhall demo: a synthetic speaker playing a tune"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="townhall", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("serve", "run Townhall (API, web pages, WHIP, HLS) in one process"),
        ("demo", "run Townhall with a live demo Space and a synthetic speaker"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--host", help="address to bind (default 127.0.0.1)")
        command.add_argument("--port", type=int, help="port to bind (default 8080)")
        command.add_argument("--data-dir", type=Path, help="where the database and recordings live")
        command.add_argument("--redis-url", help="cluster mode: the Redis every origin shares")
        command.add_argument("--database-url", help="SQLAlchemy URL (clusters: PostgreSQL)")
    add_bench_parser(commands)
    edge = commands.add_parser("edge-config", help="print an nginx edge config for origins "
                               "(with --varnish: the LL-DASH Varnish edge's VCL)")
    edge.add_argument("--varnish", action="store_true",
                      help="print the Varnish VCL (and its varnishd -p parameters as a comment)")
    edge.add_argument("--origin", action="append", required=True, metavar="HOST:PORT",
                      help="an origin (`townhall serve`); repeat for several")
    edge.add_argument("--listen", default="127.0.0.1:8080", help="address:port nginx listens on")
    edge.add_argument("--cache-dir", type=Path, default=Path("/var/cache/townhall"),
                      help="the HLS cache directory (writable by nginx's workers)")
    edge.add_argument("--stream-publisher", action="append", default=[], metavar="CIDR",
                      help="addresses that may publish listener-stream chunks (origins given "
                           "by name; origins given by IP address always may)")
    db = commands.add_parser("db", help="database schema: migrate to the newest revision or show it")
    db.add_argument("action", choices=("upgrade", "current"))
    db.add_argument("--data-dir", type=Path, help="where the database lives (SQLite)")
    db.add_argument("--database-url", help="SQLAlchemy URL (clusters: PostgreSQL)")
    operator = commands.add_parser("operator", help="make an account an operator, or not")
    operator.add_argument("action", choices=("add", "remove"))
    operator.add_argument("username")
    transparency = commands.add_parser(
        "transparency", help="check the transparency log's hash chain (exit 1 if broken)")
    transparency.add_argument("action", choices=("verify",))
    transparency.add_argument("--head", help="a head hash recorded earlier: it must still "
                                             "be in the log (catches removed newest entries)")
    for sub in (operator, transparency):
        sub.add_argument("--data-dir", type=Path, help="where the database lives (SQLite)")
        sub.add_argument("--database-url", help="SQLAlchemy URL (clusters: PostgreSQL)")
    incidents = commands.add_parser(
        "incidents", help="the incident timeline from an edge access log (townhall_edge lines)")
    incidents.add_argument("action", choices=("ingest",))
    incidents.add_argument("--edge-log", type=Path, required=True, help="the access log file")
    incidents.add_argument("--space", help="only this Space (default: every Space in the log)")
    incidents.add_argument("--bucket-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    if args.command == "incidents":
        from townhall.app.incidents import edge_log_report

        print(edge_log_report(args.edge_log, args.bucket_seconds, args.space))
        return
    if args.command in ("operator", "transparency"):
        from townhall.store.admin import moderation_command

        paths = {k: v for k, v in (("data_dir", args.data_dir),
                                   ("database_url", args.database_url)) if v is not None}
        raise SystemExit(moderation_command(args, Settings(**paths).db_url))
    if args.command == "bench":
        raise SystemExit(run_bench(args))
    if args.command == "db":
        from townhall.store.admin import run_command

        paths = {k: v for k, v in (("data_dir", args.data_dir),
                                   ("database_url", args.database_url)) if v is not None}
        settings = Settings(**paths)
        configure_logging(settings.log_level, settings.log_format)
        raise SystemExit(run_command(args.action, settings.db_url))
    if args.command == "edge-config":
        from townhall.edge.config import render_nginx_config
        from townhall.edge.varnish import render_varnish_config, varnish_parameters

        try:
            if args.varnish:
                print(render_varnish_config(args.origin), end="")
                print(f"# varnishd parameters: {' '.join(varnish_parameters())}")
            else:
                print(render_nginx_config(args.origin, args.listen, args.cache_dir,
                                          stream_publishers=args.stream_publisher), end="")
        except ValueError as exc:
            parser.exit(2, f"townhall: {exc}\n")
        return

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port),
                                   ("data_dir", args.data_dir), ("redis_url", args.redis_url),
                                   ("database_url", args.database_url)) if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        parser.exit(2, f"townhall: bad configuration: {problems}\n")
    configure_logging(settings.log_level, settings.log_format)
    on_start = start_demo if args.command == "demo" else None
    app = create_app(settings, on_start=on_start)
    mode = " (cluster node: shared Redis and database)" if settings.cluster else ""
    print(f"Townhall on {settings.base_url}/{mode}", flush=True)
    if not settings.public_url and settings.host not in ("127.0.0.1", "::1", "localhost"):
        # Links in API answers then follow each request's Host header: fine on a laptop
        # or a LAN (they change only the asker's own answer; none is cached or mailed),
        # but a public server names its address so no header decides it.
        log.warning("TOWNHALL_PUBLIC_URL is not set: links in answers follow the request's "
                    "Host header; set it on a public server")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                access_log=False, proxy_headers=True,
                forwarded_allow_ips=settings.trusted_proxies,
                http=timely_protocol(settings.request_timeout))


async def start_demo(services: Services) -> None:
    """A live Space whose speaker is a synthetic voice fed straight into the mixer."""
    with services.db.session() as db:
        host = db.scalar(select(User).where(User.username == DEMO_USERNAME))
        if host is None:
            # Nobody signs in as the demo host: its password is random and thrown away.
            host = User(username=DEMO_USERNAME, password_hash="!" + new_token()[1])
            db.add(host)
            db.flush()
        space = db.get(Space, DEMO_SPACE_ID)
        if space is None:
            space = Space(id=DEMO_SPACE_ID, title=DEMO_TITLE, host_id=host.id)
            db.add(space)
        space.state, space.started_at, space.ended_at = SpaceState.LIVE, utcnow(), None
    try:
        media = await services.start_media(DEMO_SPACE_ID)
    except MediaElsewhere:
        return  # cluster: another node already plays the demo
    media.add_source("demo-voice", SyntheticVoice())
    base = services.settings.base_url
    print(f"Demo Space page: {base}/s/{DEMO_SPACE_ID}", flush=True)
    print(f"Demo HLS URL:    {base}/hls/{DEMO_SPACE_ID}/live.m3u8", flush=True)
    print("Listen with a browser, or: ffplay " f"{base}/hls/{DEMO_SPACE_ID}/live.m3u8", flush=True)


if __name__ == "__main__":
    main()
