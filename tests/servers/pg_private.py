"""A private PostgreSQL server of one test: killed, stopped and started again at will.

The machine's shared server (``tests/servers/postgres.py``) must never go down; a test of what a user sees
when the database goes away runs its own: ``initdb`` once per session into a template folder (trust
authentication, ``fsync=off``), copied per server, ``postgres`` started on a free loopback port (TCP only,
no Unix socket). Binaries are looked for on ``PATH`` and in Debian's ``/usr/lib/postgresql/*/bin`` (package
``postgresql``); as root the server runs as the ``postgres`` system user, as PostgreSQL demands.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .ports import LOOPBACK, Process, ServerError, find_binary, free_port, tail, unavailable

_counter = itertools.count(1)
_ATTEMPTS = 3
PACKAGE = "postgresql"


def _debian_bin_dirs() -> list[str]:
    """``/usr/lib/postgresql/<major>/bin``, newest major first."""
    found = []
    for folder in Path("/usr/lib/postgresql").glob("*/bin"):
        major = re.match(r"\d+", folder.parent.name)
        if major:
            found.append((int(major.group()), str(folder)))
    return [folder for _, folder in sorted(found, reverse=True)]


def find_postgres_binaries() -> tuple[str, str]:
    """``(initdb, postgres)`` of one installation; skip (fail with ``CI=true``) naming what is missing.

    ``postgres`` is taken from the folder ``initdb`` really lives in (``/usr/local/bin/initdb`` may be a
    link into Debian's folder), so that both come from the same major version.
    """
    extra = (*_debian_bin_dirs(), "/usr/sbin", "/usr/bin")
    initdb = find_binary("initdb", extra_paths=extra)
    if initdb is None:
        unavailable(f"initdb not found on PATH nor in /usr/lib/postgresql/*/bin: this test needs Debian package "
                    f"{PACKAGE}")
        raise AssertionError("unreachable")  # pragma: no cover - skip/fail raise
    postgres = Path(initdb).resolve().parent / "postgres"
    if not (postgres.is_file() and os.access(postgres, os.X_OK)):
        unavailable(f"postgres not found next to {Path(initdb).resolve()}: this test needs Debian package {PACKAGE}")
    return initdb, str(postgres)


def _server_user() -> str | None:
    """The user the server runs as: ``None`` (ourselves) unless we are root, then ``postgres``."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        unavailable("PostgreSQL refuses to run as root and there is no 'postgres' user to run it as "
                    f"(Debian package {PACKAGE} creates it)")
    return "postgres"


def _hand_over(folder: Path, user: str | None) -> None:
    """Give ``folder`` (recursively) to the server's user."""
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(folder):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


class PgTemplate:
    """A cluster made by ``initdb`` once, copied for each server (``initdb`` takes seconds, a copy less)."""

    def __init__(self) -> None:
        self.initdb, self.postgres = find_postgres_binaries()
        self.user = _server_user()
        # not under pytest's tmp_path: its root folder is private to us, and the server's user must get in
        self.root = Path(tempfile.mkdtemp(prefix="dcmexp-pg-"))
        os.chmod(self.root, 0o755)
        self.template: Path | None = None

    def _make_template(self) -> Path:
        folder = self.root / "template"
        folder.mkdir(mode=0o700)
        _hand_over(folder, self.user)
        argv = [self.initdb, "-D", str(folder), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C",
                "--no-sync"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, user=self.user,
                                cwd=self.root)
        if result.returncode != 0:
            raise ServerError(f"{' '.join(argv)} exited with {result.returncode}:\n{result.stderr[-3000:]}")
        return folder

    def new_data_dir(self) -> Path:
        if self.template is None:
            self.template = self._make_template()
        target = self.root / f"data-{next(_counter)}"
        shutil.copytree(self.template, target, symlinks=True)
        os.chmod(target, 0o700)
        _hand_over(target, self.user)
        return target

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PgServer:
    """A running (or stopped, or killed) private PostgreSQL server on 127.0.0.1.

    Attributes:
        host / port: where it listens (the port stays the same across restarts).
        user: the database superuser (``postgres``; trust authentication: any password is accepted).
        data_dir: its cluster; kept across :meth:`kill` / :meth:`stop` and :meth:`start`.
        log_path: the server's log (all starts).
    """

    host: str
    port: int
    user: str
    data_dir: Path
    log_path: Path
    postgres: str = field(repr=False)
    os_user: str | None = field(repr=False)
    process: Process | None = field(default=None, repr=False)

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection string."""
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def url(self, dbname: str = "postgres", password: str | None = None) -> str:
        """A ``postgresql://`` URL (a password is accepted and ignored: trust authentication)."""
        pw = f":{password}" if password else ""
        return f"postgresql://{self.user}{pw}@{self.host}:{self.port}/{dbname}"

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        return self.process.pid if self.process is not None and self.process.alive() else None

    def alive(self) -> bool:
        return self.pid is not None

    def start(self, timeout: float = 30.0) -> None:
        """Start on the same data folder and port; returns once it accepts connections (after crash recovery,
        if it was killed)."""
        if self.alive():
            return
        argv = [
            self.postgres, "-D", str(self.data_dir), "-p", str(self.port),
            "-c", f"listen_addresses={self.host}", "-c", "unix_socket_directories=",
            "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "shared_buffers=16MB",
            "-c", "max_connections=60", "-c", "log_min_messages=warning",
        ]
        self.process = Process(argv, log_path=self.log_path, user=self.os_user, stop_timeout=15.0)
        self.process.wait_port(self.port, timeout=timeout)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                # "the database system is starting up" (crash recovery) until it is not
                if time.monotonic() > deadline or not self.alive():
                    raise ServerError(f"PostgreSQL on port {self.port} not ready ({exc}); log {self.log_path}:\n"
                                      f"{tail(self.log_path)}") from exc
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the postmaster, as the OOM killer would; its backends notice and exit on their own (killed
        after 10 s if not). The data folder is left as a crash leaves it: the next :meth:`start` recovers."""
        proc = self.process
        if proc is None or not proc.alive():
            return
        # each backend is a process group of its own (PostgreSQL makes it so): find them before they orphan
        backends = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.popen.wait(10)
        _wait_gone(backends, 10.0)
        proc.stop(graceful=False)  # closes the log file

    def stop(self) -> None:
        """A fast shutdown (SIGINT: clients are disconnected, the data is checkpointed)."""
        proc = self.process
        if proc is None:
            return
        backends = _children(proc.pid) if proc.alive() else []
        if proc.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGINT)
            with contextlib.suppress(Exception):
                proc.popen.wait(15)
        proc.stop()
        _wait_gone(backends, 5.0)

    def restart(self) -> None:
        self.stop()
        self.start()

    def execute(self, sql: str, dbname: str = "postgres") -> list[tuple[object, ...]]:
        """Run one statement as the superuser (own connection, autocommit); the rows it returned."""
        import psycopg

        with psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(sql)
            return list(cur.fetchall()) if cur.description else []


def _children(pid: int) -> list[int]:
    """The process ids whose parent is ``pid`` (Linux ``/proc``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, the last ")" ends it
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(pid):
            found.append(int(entry.name))
    return found


def _wait_gone(pids: list[int], timeout: float) -> None:
    """Wait until none of ``pids`` is alive; SIGKILL whatever is left after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    left = list(pids)
    killed = False
    while left:
        left = [pid for pid in left if _alive(pid)]
        if left and time.monotonic() > deadline:
            if killed:
                raise ServerError(f"PostgreSQL backends {left} outlived SIGKILL")
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            killed = True
            deadline = time.monotonic() + 5.0
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead and not yet reaped by init, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2:][:1] not in ("Z", "X", "")


def start_pg_server(template: PgTemplate, workdir: Path) -> PgServer:
    """A fresh cluster (a copy of the template) started on a free loopback port."""
    data_dir = template.new_data_dir()
    n = next(_counter)
    log = workdir / f"postgres-{n}.log"
    for attempt in range(1, _ATTEMPTS + 1):
        server = PgServer(host=LOOPBACK, port=free_port(), user="postgres", data_dir=data_dir, log_path=log,
                          postgres=template.postgres, os_user=template.user)
        try:
            server.start()
            return server
        except ServerError:
            server.stop()
            if attempt == _ATTEMPTS:  # most likely another process took the free port in the meantime
                raise
    raise AssertionError("unreachable")  # pragma: no cover
