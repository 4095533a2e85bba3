"""DCMTK ``storescp`` as a throwaway receiver (always with ``TCP_NODELAY=1``)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .ports import LOOPBACK, Process, ServerError, free_port, require_binary

_counter = itertools.count(1)
_ATTEMPTS = 3


@dataclass
class StorescpServer:
    """A running ``storescp``.

    Attributes:
        host: always 127.0.0.1 (storescp listens on all interfaces; only ever connect to loopback).
        port: its DICOM port.
        ae_title: the AE title it answers to.
        output_dir: where it writes received objects (empty with ``--ignore``).
        log_path: its combined stdout/stderr.
        argv: the command line it was started with.
    """

    host: str
    port: int
    ae_title: str
    output_dir: Path
    log_path: Path
    argv: list[str]
    process: Process = field(repr=False)

    def files(self) -> list[Path]:
        """Files written so far (sorted)."""
        return sorted(p for p in self.output_dir.rglob("*") if p.is_file())

    def stop(self) -> None:
        self.process.stop()


def start_storescp(
    workdir: Path,
    *,
    ae_title: str = "STORESCP",
    options: Sequence[str] = ("+xa",),
    port: int | None = None,
    timeout: float = 10.0,
) -> StorescpServer:
    """Start ``TCP_NODELAY=1 storescp -aet AE -od DIR [options] PORT`` and wait until the port accepts.

    ``options`` are extra storescp flags, e.g. ``("+xa", "--ignore", "--fork")`` or ``("-pm", "+xa")``.
    Skips the test (fails with ``CI=true``) when the ``dcmtk`` package is not installed.
    """
    binary = require_binary("storescp", "dcmtk")
    n = next(_counter)
    out = workdir / f"storescp-{n}"
    out.mkdir(parents=True, exist_ok=True)
    log = workdir / f"storescp-{n}.log"
    fixed_port = port
    for attempt in range(1, _ATTEMPTS + 1):
        port = fixed_port or free_port()
        argv = [binary, "-aet", ae_title, "-od", str(out), *options, str(port)]
        proc = Process(argv, log_path=log, env={"TCP_NODELAY": "1"})
        try:
            proc.wait_port(port, timeout=timeout)
            break
        except ServerError:
            # most likely another process took the free port in the meantime: try another one
            if fixed_port or attempt == _ATTEMPTS:
                raise
    return StorescpServer(
        host=LOOPBACK, port=port, ae_title=ae_title, output_dir=out, log_path=log, argv=argv, process=proc
    )
