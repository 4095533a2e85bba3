"""Small helpers shared by test modules (importable as ``_helpers``: ``tests/`` is on ``sys.path``).

The real servers live in ``tests/servers/`` and their fixtures in ``tests/conftest.py``; this module holds
the plain functions several test modules used to copy: running the examples of a docs page or of a
module's docstrings, the body of a ``*_factory`` fixture, polling, an exporter that exported a study and ran
the tasks that followed, the configuration of an archive device exporting to a storescp, the SOP Instance
UIDs a storescp received, a CT study written as Part 10 files for the ``stow:`` tests and benchmark, the task
counts of an SQLite queue file read by another process, and a checker for the HTML tables of the notebook
views.
"""

from __future__ import annotations

import doctest
import html.parser
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from dcm_exporter.models import (
    ApplicationEntity,
    Configuration,
    Connection,
    Device,
    ExporterDescriptor,
    QueueDescriptor,
)

if TYPE_CHECKING:
    from dcm_exporter.export import InstanceRef
    from dcm_exporter.exporter import Exporter

__all__ = [
    "CT",
    "exported",
    "parse",
    "received_sop_uids",
    "run_docstring_doctests",
    "run_page_doctests",
    "started_and_stopped",
    "storescp_configuration",
    "wait_for",
    "write_ct_study",
]

CT = "1.2.840.10008.5.1.4.1.1.2"

P = ParamSpec("P")
T = TypeVar("T")


def run_page_doctests(
    page: Path, *, text: str | None = None, globs: dict[str, Any] | None = None
) -> doctest.TestResults:
    """Run the ``>>>`` examples of a docs page in one namespace (``ELLIPSIS`` on); failures are printed.

    Args:
        page: the Markdown page.
        text: only these examples (a part of the page) instead of the whole page.
        globs: names the examples find already defined.
    """
    if text is None:
        return doctest.testfile(
            str(page), module_relative=False, globs=globs, optionflags=doctest.ELLIPSIS, verbose=False
        )
    test = doctest.DocTestParser().get_doctest(text, dict(globs or {}), page.name, str(page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    return runner.summarize(verbose=False)


def run_docstring_doctests(module: ModuleType | object) -> doctest.TestResults:
    """Run the docstring examples of a module (``ELLIPSIS`` on); failures are printed."""
    return doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)  # type: ignore[arg-type]


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


@contextmanager
def exported(
    configuration: Configuration, folder: Path, exporter_id: str, study_uid: str, *, wait_for_scheduled: bool = False
) -> Iterator[Exporter]:
    """An :class:`~dcm_exporter.exporter.Exporter` over the Part 10 files below ``folder``, its tasks in memory,
    after ``exporter_id`` exported ``study_uid`` and the tasks the export scheduled (IAN, storage commitment)
    ran: the queue is run until idle twice, or once with ``wait_for_scheduled`` (which also waits for retries).
    """
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.queue import InMemoryTaskStore
    from dcm_exporter.sources import FileSystemSource

    with Exporter(configuration, FileSystemSource(folder), store=InMemoryTaskStore()) as ex:
        ex.schedule_export(exporter_id, study_uid)
        ex.run_until_idle(timeout=60, wait_for_scheduled=wait_for_scheduled)
        if not wait_for_scheduled:
            ex.run_until_idle(timeout=60)
        yield ex


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


def sqlite_task_counts(db: Path) -> dict[str, int]:
    """``{status: count}`` of the export tasks in an SQLite queue file, read on a connection of our own (the
    file may be in use by a runner process)."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        return dict(conn.execute("SELECT status, count(*) FROM export_task GROUP BY status").fetchall())
    finally:
        conn.close()


def received_sop_uids(folder: Path, *, killed: bool = False) -> set[str]:
    """The SOP Instance UIDs of the files below ``folder`` (a storescp's output directory).

    ``killed``: the storescp was killed (SIGKILL) while it received, so the one file it was writing may be cut
    short; that file (at most one) is left out. Every other file must be whole.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    uids: set[str] = set()
    cut: list[Path] = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        try:
            uids.add(str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID))
        except (InvalidDicomError, EOFError, OSError, AttributeError, ValueError):
            if not killed:
                raise
            cut.append(p)
    assert len(cut) <= 1, f"more than the one file being written when storescp was killed is unreadable: {cut}"
    return uids


def write_ct_study(
    folder: Path,
    *,
    per_series: int,
    series: int = 1,
    rows: int = 16,
    seed: int | None = None,
    patient: tuple[str, str] = ("Test^Stow", "STOW1"),
) -> list[InstanceRef]:
    """A CT study with fresh UIDs, ``series`` x ``per_series`` instances of ``rows`` x ``rows`` 16-bit
    pixels, written to ``folder`` (created) as Part 10 files (Explicit VR Little Endian).

    Args:
        seed: noise pixels from ``numpy.random.default_rng(seed)``; zeros when ``None``.
        patient: Patient's Name and Patient ID.

    Returns:
        The instances, series by series.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from dcm_exporter.export import InstanceRef

    folder.mkdir(parents=True, exist_ok=True)
    if seed is None:
        zeros = bytes(rows * rows * 2)

        def pixels() -> bytes:
            return zeros
    else:
        import numpy as np

        rng = np.random.default_rng(seed)

        def pixels() -> bytes:
            return rng.integers(0, 4096, size=(rows, rows), dtype=np.uint16).tobytes()

    study = generate_uid()
    refs = []
    for s in range(series):
        series_uid = generate_uid()
        for i in range(per_series):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = CT
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID, ds.SOPInstanceUID = CT, meta.MediaStorageSOPInstanceUID
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series_uid
            ds.PatientName, ds.PatientID, ds.Modality = *patient, "CT"
            ds.SeriesNumber, ds.InstanceNumber = s + 1, i + 1
            ds.Rows = ds.Columns = rows
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.PixelData = pixels()
            path = folder / f"s{s}_{i:04d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            refs.append(
                InstanceRef(
                    study_uid=study,
                    series_uid=series_uid,
                    sop_instance_uid=ds.SOPInstanceUID,
                    sop_class_uid=CT,
                    transfer_syntax_uid=ExplicitVRLittleEndian,
                    size=path.stat().st_size,
                    path=path,
                )
            )
    return refs


class _Checker(html.parser.HTMLParser):
    """Collects the text of the cells and checks tags are balanced."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.cells: list[tuple[str, str]] = []  # (text, style)
        self._style = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":  # a void element
            return
        self.stack.append(tag)
        if tag in ("td", "th"):
            self._style = dict(attrs).get("style") or ""
            self.cells.append(("", self._style))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack.pop() == tag

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] in ("td", "th"):
            text, style = self.cells[-1]
            self.cells[-1] = (text + data, style)


def parse(markup: str) -> _Checker:
    """Parse HTML ``markup``, asserting its tags are balanced; the result holds the table cells."""
    checker = _Checker()
    checker.feed(markup)
    checker.close()
    assert checker.stack == []
    return checker
