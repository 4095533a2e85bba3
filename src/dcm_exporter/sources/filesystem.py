"""``FileSystemSource``: the instances of a folder tree of DICOM files, indexed by their UIDs.

Every file is read once, header only: a strict scanner (:func:`dcm_exporter._dicom.part10.scan_header`) reads
the first 64 KiB and takes the values up to the Series Instance UID, then steps through the rest element by
element (values skipped) to make sure none of them is there twice; what it declines (deflated or big endian
files, odd encodings, damage) gets that check over its whole data set and is read with pydicom, stopping
before the pixel data. The UIDs, SOP
class, transfer syntax, Modality, size and modification time go into a SQLite index.
With ``index_path`` the index is a file (WAL mode) that survives restarts, and :meth:`refresh` re-reads
only files that are new or whose size or modification time changed — 100,000 files are not re-read
on every start. Without it the index lives in memory and is built on first use.

Files that are not usable DICOM instances are reported in :class:`~dcm_exporter.sources.base.IndexReport`
(and logged), never fatal. Names starting with ``.`` are skipped (hidden files, partial writes).

    >>> import tempfile
    >>> with FileSystemSource(tempfile.mkdtemp()) as source:
    ...     source.find("1.2.3")
    []
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from dcm_exporter._dicom.part10 import check_repeats, scan_header
from dcm_exporter.errors import SourceError
from dcm_exporter.export import ALL, InstanceRef, entity_text
from dcm_exporter.sources.base import IndexReport, UnreadableFile

__all__ = ["FileSystemSource"]

log = logging.getLogger("dcm_exporter.sources")

_SCHEMA_VERSION = "2"  # 2: files.modality
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    study_uid TEXT,
    series_uid TEXT,
    sop_instance_uid TEXT,
    sop_class_uid TEXT,
    transfer_syntax_uid TEXT,
    source_ae_title TEXT,
    error TEXT,
    modality TEXT
);
CREATE INDEX IF NOT EXISTS files_study ON files (study_uid, series_uid);
CREATE INDEX IF NOT EXISTS files_sop ON files (sop_instance_uid);
"""

_STUDY, _SERIES, _SOP, _CLASS = 0x0020000D, 0x0020000E, 0x00080018, 0x00080016
_MEDIA_SOP, _MEDIA_CLASS, _TS, _SOURCE_AE = 0x00020003, 0x00020002, 0x00020010, 0x00020016
_MODALITY = 0x00080060
_HeaderRow = tuple[str, str, str, str, str, str | None, str | None]
#: bytes above which the pydicom fallback steps over a value instead of reading it (the index reads only UIDs)
PYDICOM_DEFER_SIZE = 64 << 10


def _modality(ds: Any) -> str | None:
    """Modality (0008,0060) as the index keeps it; several values (a malformed file) joined by ``\\``."""
    elem = ds.get(_MODALITY)
    value = None if elem is None else elem.value
    if value is not None and not isinstance(value, (str, bytes)):
        parts = [str(v).strip(" \x00") for v in value]
        return "\\".join(parts) or None
    return _text(ds, _MODALITY)


def _uid(ds: Any, tag: int, label: str) -> str | None:
    """A UID the index keeps: one value, or the file is unreadable (never the text of a list)."""
    elem = ds.get(tag)
    value = None if elem is None else elem.value
    if value is not None and not isinstance(value, (str, bytes)):
        raise ValueError(f"{label} has {len(value)} values, the index keeps one")
    return _text(ds, tag)


def _text(ds: Any, tag: int) -> str | None:
    elem = ds.get(tag)
    if elem is None:
        return None
    value = elem.value
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = str(value).strip(" \x00")
    return text or None


def _read_header(path: str) -> _HeaderRow:
    """Study, series, SOP instance, SOP class, transfer syntax UID, source AE title and Modality of a Part 10
    file.

    The strict header scanner answers for the usual little endian files; whatever it declines (deflated,
    big endian, no preamble, odd or damaged encodings) is read with pydicom, so both give the same result.
    """
    header = scan_header(path)
    if header is not None:
        return header
    return _read_header_pydicom(path)


def _read_header_pydicom(path: str) -> _HeaderRow:
    """:func:`_read_header` through ``pydicom.dcmread`` (the reference; every file the scanner declines)."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    # first, at bounded cost: pydicom keeps the last of a repeated attribute silently, and inflates a deflated
    # data set whole in memory (the check refuses one that inflates past MAX_INFLATED_BYTES)
    check_repeats(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tolerant when decoding: odd values are not our concern here
            # values above PYDICOM_DEFER_SIZE are stepped over, not read: a file declaring a 4 GB element
            # costs no memory (its later elements are then simply not found)
            ds = dcmread(path, stop_before_pixels=True, defer_size=PYDICOM_DEFER_SIZE)
            meta = ds.file_meta
            for source, tags in ((ds, (_STUDY, _SERIES, _SOP, _CLASS, _MODALITY)),
                                 (meta, (_MEDIA_SOP, _MEDIA_CLASS, _TS, _SOURCE_AE))):
                for tag in tags:
                    raw = source.get_item(tag, keep_deferred=True)
                    length = getattr(raw, "length", 0) or 0
                    if length > PYDICOM_DEFER_SIZE:  # deferred: reading it would take what the file declares
                        raise ValueError(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) declares {length} bytes")
                    _ = source.get(tag)  # decoded here, inside the guard
    except InvalidDicomError as exc:
        raise ValueError(f"not a DICOM Part 10 file: {exc}") from exc
    except Exception as exc:  # damaged bytes make pydicom fail in many ways (a short length, a bad deflate ...)
        raise ValueError(f"unreadable DICOM header: {type(exc).__name__}: {exc}") from exc
    study, series = _uid(ds, _STUDY, "Study Instance UID"), _uid(ds, _SERIES, "Series Instance UID")
    sop = _uid(ds, _SOP, "SOP Instance UID") or _uid(meta, _MEDIA_SOP, "Media Storage SOP Instance UID")
    cls = _uid(ds, _CLASS, "SOP Class UID") or _uid(meta, _MEDIA_CLASS, "Media Storage SOP Class UID")
    ts, source_ae = _uid(meta, _TS, "Transfer Syntax UID"), _text(meta, _SOURCE_AE)
    modality = _modality(ds)
    labels = (("Study Instance UID", study), ("Series Instance UID", series), ("SOP Instance UID", sop),
              ("SOP Class UID", cls))
    missing = [label for label, value in labels if not value]
    if missing:
        raise ValueError(f"no {', '.join(missing)} in the DICOM header")
    if not ts:
        raise ValueError("no Transfer Syntax UID (0002,0010) in the File Meta Information")
    assert study and series and sop and cls
    return study, series, sop, cls, ts, source_ae, modality


class FileSystemSource:
    """An :class:`~dcm_exporter.sources.base.InstanceSource` over a folder tree of DICOM Part 10 files.

    Args:
        root: the folder to index (recursively).
        index_path: SQLite file for the index (created if missing; kept across restarts). ``None``:
            an in-memory index built on first use.
        follow_symlinks: also descend into symlinked folders and index symlinked files.

    Thread-safe: one SQLite connection guarded by a lock; ``find`` may run while ``refresh`` runs
    (it sees the index before or after the scan's commit).
    """

    def __init__(
        self, root: str | os.PathLike[str], index_path: str | os.PathLike[str] | None = None,
        *, follow_symlinks: bool = False,
    ) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise SourceError(f"FileSystemSource: {self.root} is not a folder")
        self.index_path = Path(index_path).resolve() if index_path is not None else None
        self.follow_symlinks = follow_symlinks
        self._lock = threading.RLock()
        self._refresh_lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                str(self.index_path) if self.index_path else ":memory:",
                check_same_thread=False,
                isolation_level=None,
            )
            if self.index_path:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._check_meta()
        except sqlite3.Error as exc:
            raise SourceError(f"FileSystemSource: cannot open index {self.index_path}: {exc}") from exc
        self._closed = False
        self._generation = 0  # completed refreshes: misses waiting for one need not scan again

    # -- lifecycle --------------------------------------------------------------------------

    def _check_meta(self) -> None:
        rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if rows.get("root") == str(self.root) and rows.get("schema") == "1":
            # version 1 had no Modality: add the column and mark every file changed, so that the next
            # refresh reads each header again (find() keeps answering from the rows meanwhile)
            self._db.execute("BEGIN")
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(files)")}
            if "modality" not in columns:
                self._db.execute("ALTER TABLE files ADD COLUMN modality TEXT")
            self._db.execute("UPDATE files SET mtime_ns = -1")
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (_SCHEMA_VERSION,))
            self._db.execute("COMMIT")
            log.info("FileSystemSource %s: index %s migrated to schema %s (Modality); the next refresh re-reads "
                     "every file", self.root, self.index_path, _SCHEMA_VERSION)
            return
        if rows.get("root") != str(self.root) or rows.get("schema") != _SCHEMA_VERSION:
            # another folder or an older layout: start afresh
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM files")
            self._db.execute("DELETE FROM meta")
            self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("root", str(self.root)), ("schema", _SCHEMA_VERSION)],
            )
            self._db.execute("COMMIT")

    @property
    def indexed(self) -> bool:
        """Whether the folder has been scanned at least once (in this index)."""
        with self._lock:
            self._ensure_open()
            row = self._db.execute("SELECT value FROM meta WHERE key = 'scanned'").fetchone()
        return row is not None

    def close(self) -> None:
        """Close the index. Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        index = str(self.index_path) if self.index_path else None
        return f"FileSystemSource({str(self.root)!r}, index_path={index!r})"

    # -- scanning ---------------------------------------------------------------------------

    def _skip(self, path: str) -> bool:
        if self.index_path is None:
            return False
        ip = str(self.index_path)
        return path in (ip, ip + "-wal", ip + "-shm", ip + "-journal")

    def _walk(self, folder: str) -> Iterator[tuple[str, int, int]]:
        try:
            it = os.scandir(folder)
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc)
            return
        with it:
            for entry in it:
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=self.follow_symlinks):
                        yield from self._walk(entry.path)
                    elif entry.is_file(follow_symlinks=self.follow_symlinks):
                        if self._skip(entry.path):
                            continue
                        st = entry.stat(follow_symlinks=self.follow_symlinks)
                        yield entry.path, st.st_mtime_ns, st.st_size
                except OSError as exc:
                    log.warning("cannot stat %s: %s", entry.path, exc)

    def refresh(self) -> IndexReport:
        """Scan the folder tree and bring the index up to date; read only new or changed files.

        Returns:
            What changed, with the unreadable files and why.
        """
        with self._refresh_lock:
            return self._refresh()

    def _refresh(self) -> IndexReport:
        root = str(self.root)
        prefix = len(root) + 1
        with self._lock:
            self._ensure_open()
            known = {p: (m, s) for p, m, s in self._db.execute("SELECT path, mtime_ns, size FROM files")}
        added: list[Path] = []
        updated: list[Path] = []
        unreadable: list[UnreadableFile] = []
        rows: list[tuple[Any, ...]] = []
        seen: set[str] = set()
        scanned = unchanged = 0
        for full, mtime_ns, size in self._walk(root):
            rel = full[prefix:]
            scanned += 1
            seen.add(rel)
            old = known.get(rel)
            if old is not None and old == (mtime_ns, size):
                unchanged += 1
                continue
            try:
                header: tuple[str | None, ...] = _read_header(full)
                error = None
            except ValueError as exc:
                header = (None,) * 7
                error = str(exc)
                unreadable.append(UnreadableFile(path=Path(full), reason=error))
                log.warning("not indexed: %s: %s", full, error)
            (updated if old is not None else added).append(Path(full))
            rows.append((rel, mtime_ns, size, *header, error))
            if len(rows) >= 1000:
                self._write(rows, [])
                rows = []
        removed = [p for p in known if p not in seen]
        self._write(rows, removed)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('scanned', '1')")
            self._generation += 1
        report = IndexReport(
            scanned=scanned,
            added=tuple(added),
            updated=tuple(updated),
            removed=tuple(self.root / p for p in removed),
            unreadable=tuple(unreadable),
            unchanged=unchanged,
        )
        log.info("FileSystemSource %s: %s", self.root, report)
        return report

    def _write(self, rows: list[tuple[Any, ...]], removed: list[str]) -> None:
        with self._lock:
            self._ensure_open()
            try:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR REPLACE INTO files (path, mtime_ns, size, study_uid, series_uid,"
                    " sop_instance_uid, sop_class_uid, transfer_syntax_uid, source_ae_title, modality, error)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in removed])
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise SourceError(f"FileSystemSource: cannot update index {self.index_path}: {exc}") from exc

    def _ensure_open(self) -> None:
        if self._closed:
            raise SourceError(f"{self!r} is closed")

    # -- queries ----------------------------------------------------------------------------

    def find(
        self, study_uid: str, series_uid: str | None = None, sop_instance_uid: str | None = None
    ) -> list[InstanceRef]:
        """The indexed instances of a study, series or instance (``None`` / ``"*"`` = all).

        Scans the folder first if it was never scanned. A miss (no instance) refreshes the index first
        (incrementally: only new or changed files are read), so files written after the last scan are found;
        concurrent misses share one refresh. One reference per SOP Instance UID (the first file by path when a
        UID occurs in several files), ordered by series and path.
        """
        generation = self._generation
        if not self.indexed:
            self.refresh()
            return self._find(study_uid, series_uid, sop_instance_uid)
        refs = self._find(study_uid, series_uid, sop_instance_uid)
        if not refs:
            with self._refresh_lock:
                # a refresh that ended while this call waited covered the files written before the miss
                if self._generation == generation:
                    log.info("FileSystemSource %s: %s not indexed, scanning for new files", self.root,
                             entity_text(study_uid, series_uid, sop_instance_uid))
                    self._refresh()
            refs = self._find(study_uid, series_uid, sop_instance_uid)
        return refs

    def _find(
        self, study_uid: str, series_uid: str | None, sop_instance_uid: str | None
    ) -> list[InstanceRef]:
        sql = (
            "SELECT path, size, study_uid, series_uid, sop_instance_uid, sop_class_uid, transfer_syntax_uid,"
            " source_ae_title, modality FROM files WHERE error IS NULL AND study_uid = ?"
        )
        args: list[str] = [study_uid]
        if series_uid and series_uid != ALL:
            sql += " AND series_uid = ?"
            args.append(series_uid)
        if sop_instance_uid and sop_instance_uid != ALL:
            sql += " AND sop_instance_uid = ?"
            args.append(sop_instance_uid)
        sql += " ORDER BY series_uid, path"
        with self._lock:
            self._ensure_open()
            rows = self._db.execute(sql, args).fetchall()
        refs: list[InstanceRef] = []
        seen: set[str] = set()
        for path, size, st, se, sop, cls, ts, ae, modality in rows:
            if sop in seen:
                continue
            seen.add(sop)
            refs.append(
                InstanceRef(
                    study_uid=st, series_uid=se, sop_instance_uid=sop, sop_class_uid=cls,
                    transfer_syntax_uid=ts, size=size, path=self.root / path, source_ae_title=ae,
                    modality=modality,
                )
            )
        return refs

    def source_ae_title(self, study_uid: str, series_uid: str | None = None) -> str | None:
        """The Source Application Entity Title (0002,0016) recorded for a series (or study), if any."""
        refs = self.find(study_uid, series_uid)
        return next((r.source_ae_title for r in refs if r.source_ae_title), None)

    def unreadable(self) -> list[UnreadableFile]:
        """Every file currently in the tree that the index could not use, with the reason."""
        with self._lock:
            self._ensure_open()
            rows = self._db.execute(
                "SELECT path, error FROM files WHERE error IS NOT NULL ORDER BY path"
            ).fetchall()
        return [UnreadableFile(path=self.root / p, reason=e) for p, e in rows]

    def __len__(self) -> int:
        with self._lock:
            self._ensure_open()
            (count,) = self._db.execute("SELECT count(*) FROM files WHERE error IS NULL").fetchone()
        return int(count)
