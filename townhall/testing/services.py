"""Redis and PostgreSQL for cluster tests: each test run starts its own on loopback
(free ports, data in a temporary directory), whatever else runs on the machine."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis

from townhall.testing.servers import free_port
from townhall.testing.waiting import wait_started

START_TIMEOUT = 30.0


def _wait(check: Callable[[], object], what: str, process: subprocess.Popen[bytes],
          log: Path) -> None:
    """Wait until `check()` returns without raising (the service takes connections)."""
    def answers() -> bool:
        check()
        return True

    wait_started(process, answers, what, START_TIMEOUT, log=lambda: log.read_text(errors="replace"),
                 interval=0.05, ignore=(Exception,))


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server; yields its URL."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="townhall-redis-"))
    log = workdir / "redis.log"
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir), "--logfile", str(log)])
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait(lambda: redis.Redis.from_url(url).ping(), "redis-server", process, log)
        yield url
    finally:
        _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `make setup` (scripts/setup.sh)")
    return found[-1]


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (initdb, trust auth on loopback); yields a
    SQLAlchemy URL of database `townhall`. PostgreSQL refuses to run as root: as root it
    runs as the `postgres` system user."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="townhall-pg-"))
    data, log = workdir / "data", workdir / "postgres.log"
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(workdir, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, _pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                    "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    log.touch()
    if as_user:
        os.chown(log, pwd.getpwnam("postgres").pw_uid, -1)
    process = subprocess.Popen(
        [*as_user, _pg_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(workdir),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
        stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        _wait(lambda: psycopg.connect(admin, connect_timeout=1).close(), "postgres", process, log)
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute("CREATE DATABASE townhall")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/townhall"
    finally:
        _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)
