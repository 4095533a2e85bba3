"""The storage commitment SCP ``PACS`` and the reports sent to our embedded N-EVENT-REPORT SCP.

Importable as ``_stgcmt`` (``tests/`` is on ``sys.path``); used by the tests of who may report to the
embedded SCP, over plain DICOM (``test_stgcmt_reporters``) and TLS (``test_stgcmt_tls``). ``PACS`` is a real
pynetdicom SCP on loopback; the test plays its reporting side with :func:`send_report`.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydicom import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt

from _helpers import CT
from dcm_exporter.actions.stgcmt import STORAGE_COMMITMENT_PUSH_MODEL, CommitmentResult, StorageCommitmentSCU
from dcm_exporter.export import InstanceRef
from dcm_exporter.models import ApplicationEntity, Configuration, Connection, Device, ExporterDescriptor
from servers.ports import free_port

__all__ = [
    "INSTANCE",
    "TS",
    "Pacs",
    "awaiting_report",
    "closed_by_peer",
    "configuration_for",
    "instances",
    "report_for",
    "send_report",
]

TS = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]
INSTANCE = STORAGE_COMMITMENT_PUSH_MODEL + ".1"  # the well-known SOP Instance of the Push Model


class Pacs:
    """A pynetdicom SCP (AE ``PACS``) that answers N-ACTION with Success and remembers the Action Information;
    a context manager that shuts it down."""

    def __init__(self) -> None:
        self.port = free_port()
        self.action = threading.Event()
        self.info: Dataset | None = None
        ae = AE(ae_title="PACS")
        ae.add_supported_context(STORAGE_COMMITMENT_PUSH_MODEL, TS)
        self.server = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_N_ACTION, self._on_n_action)]
        )

    def _on_n_action(self, event: Any) -> tuple[int, None]:
        self.info = event.action_information
        self.action.set()
        return 0x0000, None

    def __enter__(self) -> Pacs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()


def configuration_for(
    pacs_port: int, ours: Connection, properties: dict[str, str] | None = None
) -> tuple[Configuration, ExporterDescriptor]:
    """Device ``dcm4chee-arc``, whose AE ``DCM4CHEE`` listens on ``ours``, with exporter ``COMMIT``
    (``noop:``, storage commitment by ``PACS``, exporter ``properties``); device ``pacs``, whose AE ``PACS``
    listens on ``127.0.0.1:pacs_port``."""
    exporter = ExporterDescriptor(
        exporter_id="COMMIT", uri="noop:commit", queue_name="Export1", ae_title="DCM4CHEE", stgcmt_scp="PACS",
        properties=properties or {},
    )
    configuration = Configuration(
        devices=(
            Device(
                device_name="dcm4chee-arc",
                connections=(ours,),
                application_entities=(ApplicationEntity(ae_title="DCM4CHEE", connection_refs=(ours.name,)),),
                exporters=(exporter,),
            ),
            Device(
                device_name="pacs",
                connections=(Connection(name="dicom", hostname="127.0.0.1", port=pacs_port),),
                application_entities=(ApplicationEntity(ae_title="PACS", connection_refs=("dicom",)),),
            ),
        )
    )
    return configuration, exporter


def instances(count: int) -> list[InstanceRef]:
    """``count`` CT instances of one new series; no file behind them (the ``noop:`` exporter reads none)."""
    study, series = generate_uid(), generate_uid()
    return [
        InstanceRef(
            study_uid=study, series_uid=series, sop_instance_uid=generate_uid(), sop_class_uid=CT,
            transfer_syntax_uid=TS[0], size=0, path=Path("/nonexistent.dcm"),
        )
        for _ in range(count)
    ]


@contextmanager
def awaiting_report(
    scu: StorageCommitmentSCU,
    pacs: Pacs,
    configuration: Configuration,
    exporter: ExporterDescriptor,
    refs: list[InstanceRef],
    *,
    timeout: float = 60,
) -> Iterator[tuple[Future[CommitmentResult], Dataset]]:
    """``scu`` requests commitment of ``refs`` from ``PACS`` in a thread; yields once ``PACS`` has the N-ACTION
    (within 20 s): the request's future and the Action Information, from which the test builds the report."""
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(
            scu.request, configuration=configuration, exporter=exporter, ae_title="PACS",
            calling_ae_title="DCM4CHEE", instances=refs, timeout=timeout,
        )
        assert pacs.action.wait(20)
        assert pacs.info is not None
        yield future, pacs.info


def report_for(info: Dataset, *, failed: bool = False, transaction_uid: str | None = None) -> Dataset:
    """The Event Information for the Action Information ``info``: every instance committed (or, ``failed``,
    none, reason 0x0112); under another ``transaction_uid`` when given."""
    report = Dataset()
    report.TransactionUID = transaction_uid or info.TransactionUID
    items = []
    for ref in info.ReferencedSOPSequence:
        item = Dataset()
        item.ReferencedSOPClassUID = ref.ReferencedSOPClassUID
        item.ReferencedSOPInstanceUID = ref.ReferencedSOPInstanceUID
        if failed:
            item.FailureReason = 0x0112
        items.append(item)
    if failed:
        report.FailedSOPSequence = items
    else:
        report.ReferencedSOPSequence = items
    return report


def send_report(
    port: int,
    report: Dataset,
    *,
    calling: str = "PACS",
    called: str = "DCM4CHEE",
    bind: str = "127.0.0.1",
    tls: ssl.SSLContext | None = None,
) -> int | str:
    """The status of the N-EVENT-REPORT-RSP (pynetdicom, over TLS with the client context ``tls``), or
    ``"rejected"`` / ``"aborted"`` when no association."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(STORAGE_COMMITMENT_PUSH_MODEL, TS)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    tls_args = None if tls is None else (tls, "127.0.0.1")
    assoc = ae.associate("127.0.0.1", port, ae_title=called, bind_address=(bind, 0), tls_args=tls_args)
    if not assoc.is_established:
        return "rejected" if assoc.is_rejected else "aborted"
    try:
        status, _ = assoc.send_n_event_report(report, 1, STORAGE_COMMITMENT_PUSH_MODEL, INSTANCE)
        return int(getattr(status, "Status", -1))
    finally:
        assoc.release()


def closed_by_peer(sock: socket.socket, *, or_a_abort: bool = False) -> bool:
    """Whether the other end ended ``sock``: EOF or a reset (when it left bytes unread), or with ``or_a_abort``
    also an A-ABORT; a timeout (10 s) fails."""
    try:
        first = sock.recv(64)[:1]
    except ConnectionResetError:
        return True
    return first == b"" or (or_a_abort and first == b"\x07")
