"""The ``storage:<id>`` transport: copy the instances into a storage of the archive device.

``storage:fs2`` names a ``dcmStorage`` entry (:class:`~dcm_exporter.models.StorageDescriptor`) of the
configuration. Its ``dcmURI`` is a ``file:`` URL whose ``${name}`` placeholders are filled from a mapping
the application passes (``variables``) or else the environment (``name`` as is, then upper-cased with
``.`` and ``-`` as ``_``: ``${jboss.server.storage.url}`` → ``JBOSS_SERVER_STORAGE_URL``).
Each instance is written to ``dcmStoragePathFormat`` (dcm4chee-arc's default
``{now,date,yyyy/MM/dd}/{0020000D,hash}/{0020000E,hash}/{00080018,hash}`` when absent) below it.

Writes are atomic: the bytes go to a hidden temporary file in the target folder, are flushed and
``fsync``-ed, then linked to the final name (never replacing an existing file) and the folder is
``fsync``-ed. No value from a dataset can make a path leave the storage folder: such an instance fails
with :class:`~dcm_exporter.errors.UnsafePathError` as its reason. A value the path format cannot use
(an Instance Number ``1e400`` under ``{00200013,offset,1}``) fails that instance alone, with its reason.

When the computed path already exists:

- under ``RANDOM_PATH`` (the default) and holding the very bytes of the instance, the instance is
  skipped: a retry after a partial failure or a repeated export does not write random-named duplicates
  (upstream does; see deviations.md);
- with ``dcmCheckIfAlreadyExistsOnDestination`` and a file of the instance's size there, the instance
  is skipped (counted in ``Outcome.skipped``, not in ``completed``, as upstream leaves it out);
- otherwise the storage's ``dcmOnStoragePathAlreadyExists`` applies: ``RANDOM_PATH`` (default) replaces
  the last path element by 8 hex digits (upstream's are random; ours are derived from the SOP Instance UID,
  so that a retry finds the copy it made before and skips it instead of writing another), ``NOOP`` skips,
  ``FAILURE`` fails the instance.

Outcome (dcm4chee-arc's storage exporter): failed > 0 ⇒ FAILED, else COMPLETED; message
``Export <entity> to storage:<id> - completed:C[, failed:F]``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import re
import secrets
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from dcm_exporter._imports import PYDICOM, require
from dcm_exporter.attribute_format import DEFAULT_STORAGE_PATH_FORMAT, AttributesFormat
from dcm_exporter.errors import (
    ConfigurationError,
    InstanceMissingError,
    SourceError,
    TransportError,
    UnsafePathError,
)
from dcm_exporter.export import ExportRequest, InstanceRef, Outcome, OutcomeBuilder, OutcomeRule
from dcm_exporter.transports.base import BaseTransport

if TYPE_CHECKING:
    from dcm_exporter.models import Configuration, ExporterDescriptor, StorageDescriptor

__all__ = ["StorageTransport", "create_transport", "resolve_storage_root"]

_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")
_CHUNK = 1024 * 1024

# tags an InstanceRef already carries, so the default path format needs no file read
_REF_TAGS = {
    0x0020000D: "study_uid",
    0x0020000E: "series_uid",
    0x00080018: "sop_instance_uid",
    0x00080016: "sop_class_uid",
}


def _fill_placeholders(uri: str, variables: Mapping[str, str] | None, where: str) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        default: str | None = None
        if ":" in name:
            name, default = name.split(":", 1)
        if variables is not None and name in variables:
            return variables[name]
        for key in (name, re.sub(r"[.\-]", "_", name).upper()):
            if key in os.environ:
                return os.environ[key]
        if default is not None:
            return default
        raise ConfigurationError(
            f"{where}: dcmURI {uri!r} uses ${{{name}}}, which is neither in the variables passed nor in the "
            f"environment (set {re.sub(r'[.-]', '_', name).upper()} or pass variables={{{name!r}: ...}})"
        )

    return _PLACEHOLDER.sub(repl, uri)


def resolve_storage_root(storage: StorageDescriptor, variables: Mapping[str, str] | None = None) -> Path:
    """The folder of a file-system storage: its ``dcmURI`` with placeholders filled, as a path.

    Raises:
        ConfigurationError: a placeholder cannot be filled, or the URI is not a ``file:`` URL.
    """
    where = f"storage {storage.storage_id!r}"
    uri = _fill_placeholders(storage.uri, variables, where)
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ConfigurationError(f"{where}: dcmURI {uri!r} names a remote host; only local file: URLs")
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme == "" and uri.startswith("/"):
        return Path(uri)
    raise ConfigurationError(
        f"{where}: dcmURI {uri!r} is not a file: URL; the storage: transport writes to local folders only"
    )


class _RefDataset:
    """The few attributes an InstanceRef carries, looked up like a pydicom Dataset (for path formats)."""

    def __init__(self, ref: InstanceRef) -> None:
        self._ref = ref

    def __contains__(self, tag: object) -> bool:
        return tag in _REF_TAGS

    def __getitem__(self, tag: int) -> Any:
        class _Elem:
            value = getattr(self._ref, _REF_TAGS[tag])

        return _Elem


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _same_bytes(fp: BinaryIO, target: Path, size: int) -> bool:
    """Whether ``target`` is a regular file holding exactly the bytes of ``fp`` (read from its start)."""
    try:
        if not target.is_file() or (size > 0 and target.stat().st_size != size):
            return False
        fp.seek(0)
        with open(target, "rb") as existing:
            while True:
                mine = fp.read(_CHUNK)
                theirs = existing.read(len(mine) or 1)
                if mine != theirs:
                    return False
                if not mine:
                    return True
    except OSError:
        return False


class StorageTransport(BaseTransport):
    """Copies instances into one file-system storage.

    Args:
        exporter: the ``storage:<id>`` exporter.
        storage: the storage descriptor it names.
        variables: values for ``${name}`` placeholders in the storage URI.
        clock: returns the time for ``{now,...}`` fields (default: the current local time).
        rng: random source for ``{rnd}`` fields and the RANDOM_PATH names of :meth:`store`.
    """

    def __init__(
        self,
        exporter: ExporterDescriptor,
        storage: StorageDescriptor,
        *,
        variables: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        require(*PYDICOM)  # here, not in the first sends of parallel workers (see dcm_exporter._imports)
        self.exporter = exporter
        self.storage = storage
        self.root = resolve_storage_root(storage, variables)
        self.destination = f"storage:{storage.storage_id}"
        self.path_format = AttributesFormat(storage.storage_path_format or DEFAULT_STORAGE_PATH_FORMAT)
        self.check_if_exists = bool(exporter.check_if_already_exists_on_destination)
        on_exists = storage.extra.get("dcmOnStoragePathAlreadyExists", ("RANDOM_PATH",))
        self.on_path_exists = str(on_exists[0]).upper() if on_exists else "RANDOM_PATH"
        if self.on_path_exists not in ("RANDOM_PATH", "NOOP", "FAILURE"):
            raise ConfigurationError(
                f"storage {storage.storage_id!r}: dcmOnStoragePathAlreadyExists {self.on_path_exists!r} "
                "is not RANDOM_PATH, NOOP or FAILURE"
            )
        self._clock = clock
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._needs_header = not set(self.path_format.tag_paths) <= {(t,) for t in _REF_TAGS}
        self.closed = False

    def __repr__(self) -> str:
        return f"StorageTransport({self.destination!r}, root={str(self.root)!r})"

    # -- helpers -----------------------------------------------------------------------------

    def _now(self) -> datetime | None:
        return self._clock() if self._clock is not None else None

    def _read_header(self, fp: BinaryIO, ref: InstanceRef) -> Any:
        from pydicom import dcmread
        from pydicom.errors import InvalidDicomError

        try:
            ds = dcmread(fp, stop_before_pixels=True)
        except (InvalidDicomError, EOFError, ValueError, OSError, KeyError, TypeError, IndexError) as exc:
            raise SourceError(
                f"cannot read instance {ref.sop_instance_uid}: not a readable DICOM file ({exc})"
            ) from exc
        uid = getattr(ds, "SOPInstanceUID", None)
        if uid is not None and str(uid) != ref.sop_instance_uid:
            raise SourceError(
                f"instance {ref.sop_instance_uid}: the file now holds SOP Instance UID {uid}; not copied"
            )
        return ds

    def _target(self, rel: str) -> Path:
        target = self.root / rel
        root = self.root.resolve()
        # resolve before creating anything, so a symlink inside the storage cannot lead mkdir outside
        real_parent = target.parent.resolve()
        if real_parent != root and not real_parent.is_relative_to(root):
            raise UnsafePathError(f"storage path {rel!r} resolves to {real_parent}, outside storage {root}")
        real_parent.mkdir(parents=True, exist_ok=True)
        return real_parent / target.name

    @staticmethod
    def _instance_siblings(target: Path, sop_instance_uid: str) -> list[Path]:
        """The names RANDOM_PATH tries for an instance whose ``target`` is taken: 8 hex digits as upstream's
        random ones, but derived from the instance, so that a retry finds the copy an earlier export made under
        one of them instead of writing yet another."""
        names = []
        for attempt in range(10):
            digest = hashlib.sha256(f"{target.name}\0{sop_instance_uid}\0{attempt}".encode()).hexdigest()
            names.append(target.with_name(digest[:8].upper()))
        return names

    def _random_sibling(self, target: Path) -> Path:
        with self._rng_lock:
            name = f"{self._rng.getrandbits(32):08X}"
        return target.with_name(name)

    def _write_atomic(self, src: BinaryIO, target: Path, expected_size: int) -> bool:
        """Write ``src`` to ``target`` atomically; return False if ``target`` appeared meanwhile."""
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        written = 0
        try:
            with open(tmp, "xb") as out:
                while True:
                    chunk = src.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    written += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            if expected_size and written != expected_size:
                raise SourceError(
                    f"instance file changed size: expected {expected_size} bytes, read {written}; not copied"
                )
            try:
                os.link(tmp, target)
            except FileExistsError:
                return False
            except OSError:  # file systems without hard links: fall back to a checked rename
                if target.exists():
                    return False
                os.replace(tmp, target)
            _fsync_dir(target.parent)
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _copy_one(self, ref: InstanceRef) -> str:
        """Copy one instance; return ``"completed"`` or ``"skipped"``; raise on failure."""
        with ref.open() as fp:
            ds: Any = self._read_header(fp, ref)
            if not self._needs_header:
                ds = _RefDataset(ref)
            with self._rng_lock:
                rel = self.path_format.format_path(ds, now=self._now(), rng=self._rng)
            target = self._target(rel)
            if target.exists():
                if self.on_path_exists == "RANDOM_PATH" and _same_bytes(fp, target, ref.size):
                    # this very instance is already there (a retry after a partial failure, or an export
                    # repeated): another copy under a random name would only duplicate it
                    return "skipped"
                if self.check_if_exists and target.is_file() and (
                    ref.size <= 0 or target.stat().st_size == ref.size
                ):
                    return "skipped"
                if self.on_path_exists == "NOOP":
                    return "skipped"
                if self.on_path_exists == "FAILURE":
                    raise TransportError(f"storage path {rel} already exists", retryable=False)
            else:
                fp.seek(0)
                if self._write_atomic(fp, target, ref.size):
                    return "completed"
            for sibling in self._instance_siblings(target, ref.sop_instance_uid):
                if sibling.exists():
                    if _same_bytes(fp, sibling, ref.size):
                        # this instance's path was taken by another one (two instances of one Instance
                        # Number), and an earlier export already put it here: do not write another copy
                        return "skipped"
                    continue
                fp.seek(0)
                if self._write_atomic(fp, sibling, ref.size):
                    return "completed"
            raise TransportError(f"no free storage path near {rel} after 10 other names", retryable=False)

    def store(self, attributes: Any, stream: BinaryIO) -> str | None:
        """Write ``stream`` (not a DICOM instance, e.g. a WADO response body) where the storage's path
        format puts ``attributes`` (a Dataset-like holding the UIDs the format reads).

        ``dcmOnStoragePathAlreadyExists`` applies as for instances. Returns the path relative to the
        storage folder, or ``None`` when NOOP left an existing file in place.

        Raises:
            UnsafePathError: the path would leave the storage folder.
            TransportError: FAILURE and the path exists, or no free random name.
            OSError: the folder or the file cannot be written.
        """
        with self._rng_lock:
            rel = self.path_format.format_path(attributes, now=self._now(), rng=self._rng)
        self.root.mkdir(parents=True, exist_ok=True)
        target = self._target(rel)
        if target.exists():
            if self.on_path_exists == "NOOP":
                return None
            if self.on_path_exists == "FAILURE":
                raise TransportError(f"storage path {rel} already exists", retryable=False)
        for _ in range(10):
            if not target.exists():
                stream.seek(0)
                if self._write_atomic(stream, target, 0):
                    return str(target.relative_to(self.root.resolve()))
            target = self._random_sibling(target)
        raise TransportError(f"no free storage path near {rel} after 10 random names", retryable=False)

    # -- the transport ------------------------------------------------------------------------

    def send(self, request: ExportRequest) -> Outcome:
        """Copy every instance of ``request``; per-instance failures are reported in the outcome."""
        if self.closed:
            raise TransportError(f"{self!r} is closed", retryable=False, destination=self.destination)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransportError(
                f"storage {self.storage.storage_id!r}: cannot create folder {self.root}: {exc}",
                destination=self.destination,
            ) from exc
        builder = OutcomeBuilder.for_request(request, self.destination, rule=OutcomeRule.STORAGE)
        skipped = 0
        instances = request.instances
        for i, ref in enumerate(instances):
            if request.cancel.cancelled:
                return _with_skipped(builder.build(remaining=len(instances) - i), skipped)
            try:
                result = self._copy_one(ref)
            except InstanceMissingError as exc:
                builder.missing(ref, str(exc))
            except (SourceError, UnsafePathError, TransportError) as exc:
                builder.failed(ref, str(exc))
            except OSError as exc:
                builder.failed(ref, f"cannot write instance {ref.sop_instance_uid} to {self.root}: {exc}")
            except (ValueError, ArithmeticError) as exc:
                # a value of this one instance the path format cannot use: it fails alone
                builder.failed(ref, f"instance {ref.sop_instance_uid}: no storage path: {exc}")
            else:
                if result == "skipped":
                    skipped += 1
                else:
                    builder.completed(ref)
        return _with_skipped(builder.build(), skipped)

    def close(self) -> None:
        """Nothing to release; marks the transport closed."""
        self.closed = True


def _with_skipped(outcome: Outcome, skipped: int) -> Outcome:
    if not skipped:
        return outcome
    import attrs

    return attrs.evolve(outcome, skipped=skipped)


def create_transport(
    exporter: ExporterDescriptor,
    configuration: Configuration,
    *,
    variables: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> StorageTransport:
    """Factory for the ``storage:`` scheme.

    Raises:
        ConfigurationError: the storage id names no ``dcmStorage`` of the configuration, or its URI
            cannot be resolved.
    """
    storage_id = exporter.uri.partition(":")[2]
    storages = configuration.storages
    storage = storages.get(storage_id)
    if storage is None:
        known = ", ".join(sorted(storages)) or "none"
        raise ConfigurationError(
            f"exporter {exporter.exporter_id!r}: dcmURI {exporter.uri!r} names storage {storage_id!r}, "
            f"which is not configured (known storages: {known})"
        )
    return StorageTransport(exporter, storage, variables=variables, clock=clock)
