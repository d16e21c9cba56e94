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


class _Service:
    """A service process of a test's own, with its files in `workdir`."""

    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class RedisService(_Service):
    """A throwaway redis-server on a free port; `stop()` and `start()` again on the same
    port (empty: it keeps nothing on disk), for outage tests."""

    def __init__(self) -> None:
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="townhall-redis-"))
        self.log = self.workdir / "redis.log"
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--logfile", str(self.log)])
        _wait(lambda: redis.Redis.from_url(self.url).ping(), "redis-server", self.process,
              self.log)



@contextmanager
def redis_service() -> Iterator[RedisService]:
    service = RedisService()
    try:
        service.start()
        yield service
    finally:
        service.remove()


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server; yields its URL."""
    with redis_service() as service:
        yield service.url


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `make setup` (scripts/setup.sh)")
    return found[-1]


class PostgresService(_Service):
    """A throwaway PostgreSQL cluster (initdb, trust auth on loopback) with database
    `townhall`; `stop()` and `start()` again keep its data, for outage tests. PostgreSQL
    refuses to run as root: as root it runs as the `postgres` system user."""

    def __init__(self) -> None:
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="townhall-pg-"))
        self.data, self.log = self.workdir / "data", self.workdir / "postgres.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.workdir, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*self.as_user, _pg_bin("initdb"), "-D", str(self.data), "-A", "trust",
                        "-U", "postgres", "--no-sync", "-E", "UTF8"], check=True,
                       capture_output=True)
        self.log.touch()
        if self.as_user:
            os.chown(self.log, pwd.getpwnam("postgres").pw_uid, -1)
        self.admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/townhall"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*self.as_user, _pg_bin("postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.workdir), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "max_connections=200"],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        _wait(lambda: psycopg.connect(self.admin, connect_timeout=1).close(), "postgres",
              self.process, self.log)

    def create_database(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as connection:
            connection.execute("CREATE DATABASE townhall")



@contextmanager
def postgres_service() -> Iterator[PostgresService]:
    service = PostgresService()
    try:
        service.start()
        service.create_database()
        yield service
    finally:
        service.remove()


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL; yields a SQLAlchemy URL of database `townhall`."""
    with postgres_service() as service:
        yield service.url
