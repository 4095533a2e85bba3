"""An example third-party transport: ``example:<folder>`` writes one JSON line per instance.

It shows the whole plug-in contract: a factory ``create_transport(exporter, configuration)`` named in
the entry-point group ``dcm_exporter.transports``, returning an object with ``send``, ``close``,
``needs_instances`` and a context manager, that reports each instance through ``OutcomeBuilder``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["ExampleTransport", "create_transport"]


class ExampleTransport:
    """Writes ``{"sop_instance_uid", "size", "sha256"}`` per instance to ``<folder>/manifest.jsonl``."""

    needs_instances = True  # the exporter looks the instances up in its source before send()

    def __init__(self, folder: Path, destination: str) -> None:
        self.folder = folder
        self.destination = destination
        self.closed = False

    def send(self, request: Any) -> Any:
        from dcm_exporter import OutcomeBuilder
        from dcm_exporter.errors import SourceError

        builder = OutcomeBuilder.for_request(request, self.destination)
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "manifest.jsonl", "a", encoding="utf-8") as out:
            for i, ref in enumerate(request.instances):
                if request.cancel.cancelled:
                    return builder.build(remaining=len(request.instances) - i)
                try:
                    with ref.open() as fp:
                        data = fp.read()
                except SourceError as exc:
                    builder.failed(ref, str(exc))
                    continue
                out.write(json.dumps({"sop_instance_uid": ref.sop_instance_uid, "size": len(data),
                                      "sha256": hashlib.sha256(data).hexdigest()}) + "\n")
                builder.completed(ref)
        return builder.build()

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> ExampleTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def create_transport(exporter: Any, configuration: Any) -> ExampleTransport:
    """Factory named by the entry point ``example``."""
    return ExampleTransport(Path(exporter.destination), exporter.uri)
