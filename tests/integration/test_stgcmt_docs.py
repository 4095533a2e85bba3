"""The how-to page on storage commitment and IAN runs as written, against two pynetdicom peers.

``PACS`` is a storage commitment SCP that, like Orthanc, answers the N-ACTION and then reports on an
association of its own to the requester's port; ``RIS`` accepts IANs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset
from pynetdicom import AE, evt

from _helpers import run_page_doctests
from servers.ports import free_port

DOC = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "storage-commitment-and-ian.md"
TS = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]
STGCMT = "1.2.840.10008.1.20.1"
IAN = "1.2.840.10008.5.1.4.33"


class Peers:
    def __init__(self) -> None:
        self.our_port = free_port()
        self.ians: list[Dataset] = []
        self.reports: list[int] = []
        pacs = AE(ae_title="PACS")
        pacs.add_supported_context(STGCMT, TS)
        self.pacs = pacs.start_server(
            ("127.0.0.1", free_port()), block=False, evt_handlers=[(evt.EVT_N_ACTION, self._on_n_action)]
        )
        ris = AE(ae_title="RIS")
        ris.add_supported_context(IAN, TS)
        self.ris = ris.start_server(
            ("127.0.0.1", free_port()), block=False, evt_handlers=[(evt.EVT_N_CREATE, self._on_n_create)]
        )

    def _on_n_create(self, event: Any) -> tuple[int, None]:
        self.ians.append(event.attribute_list)
        return 0x0000, None

    def _on_n_action(self, event: Any) -> tuple[int, None]:
        info = event.action_information
        threading.Thread(target=self._report, args=(info,), daemon=True).start()
        return 0x0000, None

    def _report(self, info: Dataset) -> None:
        time.sleep(0.1)
        report = Dataset()
        report.TransactionUID = info.TransactionUID
        report.ReferencedSOPSequence = list(info.ReferencedSOPSequence)
        ae = AE(ae_title="PACS")
        ae.add_requested_context(STGCMT, TS)
        assoc = ae.associate("127.0.0.1", self.our_port, ae_title="DCM4CHEE")
        if assoc.is_established:
            status, _ = assoc.send_n_event_report(report, 1, STGCMT, STGCMT + ".1")
            self.reports.append(int(getattr(status, "Status", -1)))
            assoc.release()

    def stop(self) -> None:
        self.pacs.shutdown()
        self.ris.shutdown()


@pytest.fixture
def peers() -> Iterator[Peers]:
    p = Peers()
    yield p
    p.stop()


def test_how_to_page_runs(peers: Peers) -> None:
    globs = {
        "our_port": peers.our_port,
        "pacs_port": peers.pacs.server_address[1],
        "ris_port": peers.ris.server_address[1],
    }
    result = run_page_doctests(DOC, globs=globs)
    assert result.attempted >= 15
    assert result.failed == 0
    assert peers.reports == [0x0000]  # our embedded SCP took the report on the new association
    assert len(peers.ians) == 1
