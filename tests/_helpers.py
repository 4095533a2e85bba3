"""Small helpers shared by test modules (importable as ``_helpers``: ``tests/`` is on ``sys.path``).

The real servers live in ``tests/servers/`` and their fixtures in ``tests/conftest.py``; this module holds
the plain functions several test modules used to copy: the body of a ``*_factory`` fixture, polling, the
configuration of an archive device exporting to a storescp, and the SOP Instance UIDs a storescp received.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ParamSpec, TypeVar

from dcm_exporter.models import (
    ApplicationEntity,
    Configuration,
    Connection,
    Device,
    ExporterDescriptor,
    QueueDescriptor,
)

__all__ = ["received_sop_uids", "started_and_stopped", "storescp_configuration", "wait_for"]

P = ParamSpec("P")
T = TypeVar("T")


def started_and_stopped(start: Callable[P, T], stop: Callable[[T], object]) -> Iterator[Callable[P, T]]:
    """The body of a ``*_factory`` fixture: ``yield from started_and_stopped(start, stop)``.

    Yields ``start`` wrapped so that it remembers what it started; at teardown ``stop`` is called on
    each, in the order they were started.
    """
    started: list[T] = []

    def factory(*args: P.args, **kwargs: P.kwargs) -> T:
        item = start(*args, **kwargs)
        started.append(item)
        return item

    yield factory
    for item in started:
        stop(item)


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` every ``interval`` seconds until it is true or ``timeout`` seconds passed.

    Returns:
        The predicate's last answer (checked once more at the deadline).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def storescp_configuration(port: int, queue: QueueDescriptor) -> Configuration:
    """Device ``dcm4chee-arc`` (AE ``DCM4CHEE``) with exporter ``STORESCP`` (``dicom:STORESCP``) on ``queue``,
    and device ``storescp`` whose AE ``STORESCP`` listens on ``127.0.0.1:port``."""
    return Configuration(
        devices=(
            Device(
                device_name="dcm4chee-arc",
                exporters=(
                    ExporterDescriptor(
                        exporter_id="STORESCP",
                        uri="dicom:STORESCP",
                        queue_name=queue.queue_name,
                        ae_title="DCM4CHEE",
                    ),
                ),
                queues=(queue,),
            ),
            Device(
                device_name="storescp",
                connections=(Connection(name="dicom", hostname="127.0.0.1", port=port),),
                application_entities=(ApplicationEntity(ae_title="STORESCP", connection_refs=("dicom",)),),
            ),
        )
    )


def received_sop_uids(folder: Path) -> set[str]:
    """The SOP Instance UIDs of the files below ``folder`` (a storescp's output directory)."""
    import pydicom

    return {
        str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
        for p in folder.rglob("*")
        if p.is_file()
    }
