"""tinyproxy as a throwaway HTTP forward proxy (for ``dcmHTTPProxy``), optionally with Basic authentication."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from .ports import LOOPBACK, Process, ServerError, free_port, require_binary

_counter = itertools.count(1)
_ATTEMPTS = 3


@dataclass
class ProxyServer:
    """A running tinyproxy on 127.0.0.1.

    Attributes:
        port: its port.
        user / password: the Basic credentials it requires, or ``None`` for none.
        log_path: its log: one ``Request (file descriptor N): POST http://... HTTP/1.1`` line per request.
    """

    host: str
    port: int
    user: str | None
    password: str | None
    log_path: Path
    process: Process = field(repr=False)

    @property
    def address(self) -> str:
        """``[user:password@]host:port``, as dcm4che's ``dcmHTTPProxy`` holds it."""
        auth = f"{self.user}:{self.password}@" if self.user else ""
        return f"{auth}{self.host}:{self.port}"

    def requests(self) -> list[str]:
        """The request lines it forwarded or refused so far (``POST http://host:port/path HTTP/1.1``)."""
        if not self.log_path.exists():
            return []
        marker = "): "
        return [
            line.split(marker, 1)[1]
            for line in self.log_path.read_text(errors="replace").splitlines()
            if "Request (file descriptor" in line and marker in line
        ]

    def stop(self) -> None:
        self.process.stop()


def start_tinyproxy(
    workdir: Path, *, user: str | None = None, password: str | None = None, timeout: float = 10.0
) -> ProxyServer:
    """Start ``tinyproxy -d`` on a free loopback port, allowing only 127.0.0.1.

    Skips the test (fails with ``CI=true``) when the ``tinyproxy`` package is not installed.
    """
    binary = require_binary("tinyproxy", "tinyproxy")
    n = next(_counter)
    folder = workdir / f"tinyproxy-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "tinyproxy.log"
    for attempt in range(1, _ATTEMPTS + 1):
        port = free_port()
        lines = [
            f"Port {port}",
            f"Listen {LOOPBACK}",
            "Timeout 60",
            f'LogFile "{log}"',
            "LogLevel Connect",
            f'PidFile "{folder / "tinyproxy.pid"}"',
            "MaxClients 50",
            f"Allow {LOOPBACK}",
            "DisableViaHeader Yes",
        ]
        if user is not None:
            lines.append(f"BasicAuth {user} {password or ''}")
        config = folder / "tinyproxy.conf"
        config.write_text("\n".join(lines) + "\n")
        proc = Process([binary, "-d", "-c", str(config)], log_path=folder / "stdout.log")
        try:
            proc.wait_port(port, timeout=timeout)
            break
        except ServerError:
            if attempt == _ATTEMPTS:
                raise
    return ProxyServer(host=LOOPBACK, port=port, user=user, password=password, log_path=log, process=proc)
