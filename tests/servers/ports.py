"""Free ports, waiting for a listener, finding binaries, and child processes we can always stop."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"


def _death_signal_setter() -> Callable[[], None] | None:
    """On Linux, a preexec function making the child get SIGKILL when the test process dies.

    Fixture teardown stops servers normally; this only matters when pytest itself is killed
    (timeout, SIGKILL), so that no slapd / storescp / Orthanc outlives the run.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_death_signal() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL)

    return set_death_signal


_SET_DEATH_SIGNAL = _death_signal_setter()


class ServerError(RuntimeError):
    """A test server did not start (its log tail is in the message)."""


def in_ci() -> bool:
    """True when the environment says this is a CI run (``CI=true``): missing servers then fail the run."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Skip the test, or fail it in CI, because a server cannot be started here."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing server is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def _is_native(path: Path) -> bool:
    """True for a compiled program, False for a script (``#!``).

    pynetdicom installs Python console scripts named ``storescp``/``storescu``/``echoscu`` into a virtual
    environment's ``bin``; they shadow DCMTK's programs of the same name on ``PATH``.
    """
    try:
        with path.open("rb") as f:
            return f.read(2) != b"#!"
    except OSError:
        return False


def find_binary(name: str, *, extra_paths: Sequence[str] = ("/usr/sbin", "/usr/bin")) -> str | None:
    """The first native executable ``name`` on ``PATH`` or in ``extra_paths`` (scripts of the same name skipped)."""
    folders = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p] + list(extra_paths)
    for folder in folders:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK) and _is_native(candidate):
            return str(candidate)
    return None


def require_binary(name: str, package: str, *, extra_paths: Sequence[str] = ("/usr/sbin", "/usr/bin")) -> str:
    """Return the path of executable ``name``, or skip (fail in CI) naming the Debian ``package``."""
    found = find_binary(name, extra_paths=extra_paths)
    if found is None:
        unavailable(f"{name} not found: this test needs Debian package {package}")
        raise AssertionError("unreachable")  # pragma: no cover - skip/fail raise
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_accepts(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path | None, lines: int = 30) -> str:
    """The last lines of a log file, for error messages."""
    if path is None or not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


class Process:
    """A child process in its own session (process group), with output going to a log file.

    ``stop()`` sends SIGTERM to the whole group, waits, then SIGKILLs it, so nothing leaks.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stop_timeout: float = 5.0,
        user: str | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.stop_timeout = stop_timeout
        full_env = dict(os.environ)
        full_env["TCP_NODELAY"] = "1"
        if env:
            full_env.update(env)
        self._log = log_path.open("ab")
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
                # a server that refuses to run as root (PostgreSQL) runs as its own system user
                user=user,
                # the death signal follows the thread that forks: only ask for it from the main thread
                preexec_fn=_SET_DEATH_SIGNAL
                if threading.current_thread() is threading.main_thread()
                else None,
            )
        except BaseException:
            self._log.close()
            raise

    @property
    def pid(self) -> int:
        return int(self.popen.pid)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_port(self, port: int, *, timeout: float = 10.0, host: str = LOOPBACK) -> None:
        """Wait until ``port`` accepts connections; raise ServerError if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        delay = 0.005
        while time.monotonic() < deadline:
            if port_accepts(port, host) and self.alive():
                # (a listener while our process is gone would be someone else's: fall through)
                return
            if not self.alive():
                self.stop()
                raise ServerError(
                    f"{Path(self.argv[0]).name} exited with {self.popen.returncode} before listening on "
                    f"{host}:{port}; log {self.log_path}:\n{tail(self.log_path)}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        self.stop()
        raise ServerError(
            f"{Path(self.argv[0]).name} did not listen on {host}:{port} within {timeout} s; "
            f"log {self.log_path}:\n{tail(self.log_path)}"
        )

    def stop(self, *, graceful: bool = True) -> None:
        """Terminate the whole process group (SIGTERM, then SIGKILL after ``stop_timeout``).

        ``graceful=False`` sends SIGKILL at once (fine for throwaway servers whose data is discarded).
        """
        try:
            if self.popen.poll() is None and not graceful:
                _signal_group(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
            elif self.popen.poll() is None:
                _signal_group(self.popen.pid, signal.SIGTERM)
                try:
                    self.popen.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    _signal_group(self.popen.pid, signal.SIGKILL)
                    self.popen.wait(5)
            # children (e.g. storescp --fork) may outlive the leader: clean the group up too
            _signal_group(self.popen.pid, signal.SIGKILL)
        finally:
            self._log.close()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run(
    argv: Sequence[str],
    *,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[bytes]:
    """Run a helper command; raise ServerError with its output when it fails."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        list(argv), input=input, capture_output=True, env=full_env, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise ServerError(
            f"{' '.join(argv[:3])}... exited with {proc.returncode}:\n"
            f"{proc.stderr.decode(errors='replace')[-3000:]}\n{proc.stdout.decode(errors='replace')[-1000:]}"
        )
    return proc
