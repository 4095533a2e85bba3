"""``dcm-exporter serve`` / ``run`` as a user starts them (a subprocess), and an HTTP client for them.

Importable as ``_web`` (``tests/`` is on ``sys.path``); used by the integration tests of the web layer, the
browser test and the docs tests.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servers.ports import free_port, port_accepts

__all__ = ["Served", "cli_ok", "start_cli", "start_serve"]

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DCM_EXPORTER_", "NOX_"))}
    env.update(PYTHONPATH=str(REPO / "src"), NO_COLOR="1", COLUMNS="200")
    return env


def cli_ok(cwd: Path, *args: str) -> str:
    """Run ``dcm-exporter ARGS`` to the end; its standard output (fails on a non-zero exit)."""
    r = subprocess.run([sys.executable, "-m", "dcm_exporter.cli", *args], cwd=cwd, env=_env(), capture_output=True,
                       text=True, timeout=120, check=False)
    assert r.returncode == 0, f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


@dataclass
class Served:
    """A running ``dcm-exporter serve`` (or ``run --metrics-port``): ``url``, ``token``, ``get``/``post``."""

    proc: subprocess.Popen[str]
    url: str
    token: str | None
    log: Path
    ca_file: Path | None = None
    _client: Any = field(default=None, repr=False)

    @property
    def client(self) -> Any:
        if self._client is None:
            import ssl

            import httpx2

            verify: Any = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else True
            self._client = httpx2.Client(base_url=self.url, timeout=30, verify=verify)
        return self._client

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.client.post(path, headers=self.auth(), **kwargs)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Stop it with ``sig``; returns the exit code."""
        if self._client is not None:
            self._client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_cli(tmp_path: Path, *args: str, port: int, token: str | None = None, wait_path: str = "/healthz",
              timeout: float = 60, ca_file: Path | None = None) -> Served:
    """Start ``python -m dcm_exporter.cli ARGS`` and wait until ``http://127.0.0.1:PORT{wait_path}`` answers
    (``https://`` and this CA with ``ca_file``)."""
    log = tmp_path / f"cli-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dcm_exporter.cli", *args], cwd=tmp_path, env=_env(),
                                stdout=out, stderr=subprocess.STDOUT, text=True)
    scheme = "https" if ca_file else "http"
    served = Served(proc=proc, url=f"{scheme}://127.0.0.1:{port}", token=token, log=log, ca_file=ca_file)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dcm-exporter {args[0]} ended with {proc.returncode}:\n{served.output()}")
        if port_accepts(port):
            try:
                if served.get(wait_path).status_code in (200, 503):
                    return served
            except Exception:  # not answering HTTP yet
                pass
        time.sleep(0.05)
    served.stop()
    raise AssertionError(f"dcm-exporter {args[0]} did not answer on port {port}:\n{served.output()}")


def start_serve(tmp_path: Path, *args: str, token: str | None = "t0k3n-for-tests",
                ca_file: Path | None = None) -> Served:
    """``dcm-exporter serve --port FREE [--token-file F] ARGS`` (``ca_file``: it serves HTTPS)."""
    port = free_port()
    extra: list[str] = ["--port", str(port)]
    if token:
        token_file = tmp_path / "token"
        token_file.write_text(token + "\n")
        extra += ["--token-file", str(token_file)]
    return start_cli(tmp_path, "serve", *extra, *args, port=port, token=token, ca_file=ca_file)
