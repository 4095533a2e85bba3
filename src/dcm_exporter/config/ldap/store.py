"""The live LDAP configuration store: :class:`LdapConfigStore`.

Reading the whole tree, finding remote AEs as dcm4che does, adding and removing devices, remote AEs, exporters
and queues (all or nothing: a failed add deletes what it added), saving a changed configuration as the minimal
diff (undone when the server refuses part of it) and importing LDIF. The LDAP protocol itself is
:mod:`dcm_exporter.config.ldap.connection`'s.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from dcm_exporter.codecs.ldap_mapping import (
    LdapOperation,
    Modification,
    ModifyEntry,
    configuration_from_entries,
    diff_configurations,
    diff_entries,
    entry_dn_of,
    model_from_entry,
    model_to_entries,
    model_to_entry,
    registry_entries,
)
from dcm_exporter.codecs.ldif import LdifSource
from dcm_exporter.config.ldap.connection import (
    BASE,
    LEVEL,
    SUBTREE,
    Entry,
    LdapConnection,
    Value,
    escape_filter_value,
    object_classes,
)
from dcm_exporter.config.ldap.importer import ImportReport, import_ldif
from dcm_exporter.dn import (
    DEFAULT_BASE_DN,
    EXPORTER_RDN,
    QUEUE_RDN,
    ae_title_registry_dn,
    child_dn,
    configuration_dn,
    device_dn,
    devices_dn,
    dn_depth,
    normalize_dn,
    parent_dn,
    parse_dn,
    web_app_registry_dn,
)
from dcm_exporter.errors import (
    ConfigurationError,
    LdapEntryExistsError,
    LdapError,
    LdapNoSuchEntryError,
    UnknownAEError,
)
from dcm_exporter.models import (
    ApplicationEntity,
    Configuration,
    Connection,
    Device,
    ExporterDescriptor,
    QueueDescriptor,
    RemoteAE,
    TransferCapability,
)

__all__ = ["LdapConfigStore"]

_log = logging.getLogger("dcm_exporter.config.ldap")


class LdapConfigStore:
    """dcm4che configuration on a live LDAP server (OpenLDAP with dcm4che's schema, as dcm4chee runs it).

    Args:
        url: ``ldap://host[:port]`` or ``ldaps://host[:port]``.
        bind_dn: the DN to bind as (``None``: anonymous).
        password: its password; kept out of every log, ``repr`` and exception.
        base_dn: the suffix below which ``cn=DICOM Configuration`` lives.
        start_tls: upgrade an ``ldap://`` connection with StartTLS before binding.
        ca_file: PEM file of the CA(s) to trust for LDAPS/StartTLS (default: the system store).
        verify: verify the server certificate and host name (on by default; off only for tests).
        connect_timeout: seconds to wait for the TCP (and TLS) connection.
        timeout: seconds to wait for each answer of the server (whole seconds: ldap3 rounds up).
        page_size: entries per page of a paged search (RFC 2696); also keeps below servers' size limits.
        device_name: the archive device that holds exporters and queues; by default the one device with
            object class ``dcmArchiveDevice``.

    The store opens its connection on first use (or on ``with``/:meth:`open`) and keeps it; after a dropped
    connection the next call opens a new one. Calls are serialised with a lock, so one store may be shared
    by threads.

    Raises:
        ConfigurationError: an invalid URL, a missing CA file, or StartTLS with ``ldaps://``.
    """

    def __init__(
        self,
        url: str,
        bind_dn: str | None = None,
        password: str | None = None,
        base_dn: str = DEFAULT_BASE_DN,
        *,
        start_tls: bool = False,
        ca_file: str | os.PathLike[str] | None = None,
        verify: bool = True,
        connect_timeout: float = 10.0,
        timeout: float = 30.0,
        page_size: int = 500,
        device_name: str | None = None,
    ) -> None:
        self._ldap = LdapConnection(  # checks the URL and StartTLS first
            url, bind_dn, password, base_dn, start_tls=start_tls,
            ca_file=os.fspath(ca_file) if ca_file is not None else None, verify=verify,
            connect_timeout=connect_timeout, timeout=timeout, page_size=page_size,
        )
        if ca_file is not None and not Path(ca_file).is_file():
            raise ConfigurationError(f"CA file {os.fspath(ca_file)!r} does not exist")
        if page_size < 1:
            raise ConfigurationError(f"page_size must be at least 1, got {page_size}")
        self.device_name = device_name
        self._lock = threading.RLock()
        self._archive_dn: str | None = None
        self._configuration: Configuration | None = None

    # --- lifecycle -----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server URL (``scheme://host:port``)."""
        return self._ldap.url

    @property
    def bind_dn(self) -> str | None:
        """The DN the store binds as (``None``: anonymous)."""
        return self._ldap.bind_dn

    @property
    def base_dn(self) -> str:
        """The suffix below which ``cn=DICOM Configuration`` lives."""
        return self._ldap.base_dn

    @property
    def start_tls(self) -> bool:
        """Whether an ``ldap://`` connection is upgraded with StartTLS."""
        return self._ldap.start_tls

    @property
    def ca_file(self) -> str | None:
        """The PEM file of trusted CAs (``None``: the system store)."""
        return self._ldap.ca_file

    @property
    def verify(self) -> bool:
        """Whether the server certificate and host name are verified."""
        return self._ldap.verify

    @property
    def connect_timeout(self) -> float:
        """Seconds to wait for the TCP (and TLS) connection."""
        return self._ldap.connect_timeout

    @property
    def timeout(self) -> float:
        """Seconds to wait for each answer of the server."""
        return self._ldap.timeout

    @property
    def page_size(self) -> int:
        """Entries per page of a paged search."""
        return self._ldap.page_size

    @property
    def round_trips(self) -> int:
        """LDAP requests sent so far (StartTLS, bind, each search page, add, modify, delete, rename)."""
        return self._ldap.round_trips

    @property
    def config_root_dn(self) -> str:
        """``cn=DICOM Configuration,<base DN>``."""
        return configuration_dn(self.base_dn)

    @property
    def configuration(self) -> Configuration | None:
        """The configuration the last :meth:`load` / :meth:`reload` returned, or ``None``."""
        return self._configuration

    def __repr__(self) -> str:
        tls = ", start_tls=True" if self.start_tls else ""
        return (
            f"LdapConfigStore(url={self.url!r}, bind_dn={self.bind_dn!r}, base_dn={self.base_dn!r}{tls}, "
            f"open={self._ldap.is_open})"
        )

    def open(self) -> LdapConfigStore:
        """Connect (with TLS as configured) and bind now rather than on first use.

        Raises:
            LdapConnectionError: the server cannot be reached, or TLS fails.
            LdapTimeoutError: no answer in time.
            LdapBindError: the bind was refused.
        """
        with self._lock:
            self._ldap.open()
        return self

    def close(self) -> None:
        """Unbind and close the connection (a later call opens a new one)."""
        with self._lock:
            self._ldap.close()

    def __enter__(self) -> LdapConfigStore:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- reading ------------------------------------------------------------------------------------------

    def load(self) -> Configuration:
        """Read the whole ``cn=DICOM Configuration`` tree: one paged subtree search, however many entries.

        Returns:
            A new immutable :class:`Configuration` (equal to ``codecs.ldif.load`` of the same entries).

        Raises:
            LdapNoSuchEntryError: the base DN or ``cn=DICOM Configuration`` is missing (load
                ``init-config.ldif``).
            ConfigurationError: an entry that is not a valid model, naming its DN.
            LdapConnectionError / LdapTimeoutError / LdapBindError: as for :meth:`open`.
        """
        with self._lock:
            entries = self._ldap.search(self.config_root_dn, "(objectClass=*)", SUBTREE)
            config = configuration_from_entries(entries, base_dn=self.base_dn)
            self._configuration = config
            _log.info("loaded %d entries (%d devices) from %s", len(entries), len(config.devices), self.url,
                      extra={"url": self.url, "entries": len(entries)})
            return config

    _context_csn: bool | None = None  # whether the server keeps contextCSN (syncprov); asked once

    def change_marker(self) -> str:
        """A cheap value that changes whenever the configuration tree changes (for live reload polling).

        The suffix's ``contextCSN`` when the server keeps one (OpenLDAP with the syncprov overlay, as replicated
        dcm4chee set-ups have): one base search. Otherwise the newest ``entryCSN`` (microsecond resolution,
        OpenLDAP) or ``modifyTimestamp`` below ``cn=DICOM Configuration`` and the number of entries: one
        subtree search returning only those operational attributes (a deleted entry changes the count).

        Raises:
            LdapError: the server cannot be asked (the caller keeps the configuration it has).
        """
        with self._lock:
            if self._context_csn is not False:
                found = self._ldap.search(self.base_dn, "(objectClass=*)", BASE, ("contextCSN",),
                                     allow_missing=True)
                csns = [str(v) for _, found_attrs in found for k, vs in found_attrs.items() if k.lower() == "contextcsn"
                        for v in vs]
                self._context_csn = bool(csns)
                if csns:
                    return "contextCSN:" + max(csns)
            entries = self._ldap.search(self.config_root_dn, "(objectClass=*)", SUBTREE,
                                   ("entryCSN", "modifyTimestamp"))
            newest = {"entrycsn": "", "modifytimestamp": ""}  # compared apart: their text forms differ
            for _, entry_attrs in entries:
                for key, values in entry_attrs.items():
                    name = key.lower()
                    if name in newest:
                        newest[name] = max([newest[name], *(str(v) for v in values)])
            return f"entries:{len(entries)}:{newest['entrycsn'] or newest['modifytimestamp']}"

    def reload(self) -> Configuration:
        """Read the configuration again, picking up what others changed since the last :meth:`load`.

        Returns a new :class:`Configuration`; configurations returned before stay as they were (immutable),
        so code holding one keeps a consistent view. Compare with ``==`` to see whether anything changed.
        """
        return self.load()

    def find_remote_ae(self, ae_title: str, *, require_installed: bool = True) -> RemoteAE:
        """Resolve a destination AE title to one connection, as dcm4che does, with three searches.

        The AE is found by a subtree search below ``cn=Devices`` for
        ``(&(objectclass=dicomNetworkAE)(dicomAETitle=<aet>))`` with size limit 1 (the value escaped per
        RFC 4515); its device is the parent entry; then the device with its connections, and the AE's
        transfer capabilities are read.

        Raises:
            UnknownAEError: no such AE ("Unknown AE: X").
            AENotInstalledError: the AE or its device is not installed (unless ``require_installed`` is false).
            ConfigurationError: the AE has no installed listening connection.
        """
        with self._lock:
            ae_dn, ae_attributes = self._find_ae(ae_title, ("*",))
            ddn = parent_dn(ae_dn)
            device_entries = self._ldap.search(
                ddn, "(|(objectClass=dicomDevice)(objectClass=dicomNetworkConnection))", SUBTREE
            )
            tcs = self._ldap.search(ae_dn, "(objectClass=dicomTransferCapability)", LEVEL)
            partial = configuration_from_entries(
                [*device_entries, (ae_dn, ae_attributes), *tcs], base_dn=self.base_dn
            )
            return partial.remote_ae(ae_title, require_installed=require_installed)

    def _find_ae(self, ae_title: str, attributes: Sequence[str]) -> Entry:
        """dcm4che's AE search (size limit 1), checked: the entry must carry exactly this AE title."""
        found = self._ldap.search(
            devices_dn(self.base_dn),
            f"(&(objectclass=dicomNetworkAE)(dicomAETitle={escape_filter_value(ae_title)}))",
            SUBTREE,
            attributes,
            size_limit=1,
            allow_missing=True,
        )
        # a server may match more loosely than Python compares (e.g. a value cut at NUL): insist on equality
        for dn, attrs_ in found:
            titles = [v for k, vs in attrs_.items() if k.lower() == "dicomaetitle" for v in vs]
            if ae_title in titles:
                return dn, attrs_
        raise UnknownAEError(ae_title)

    # --- devices and remote AEs ---------------------------------------------------------------------------

    def add_device(self, device: Device, *, register: bool = True) -> tuple[str, ...]:
        """Add a device with everything below it, all or nothing.

        With ``register`` (the default) its AE titles (and web application names) are first added to the
        unique-name registries, as dcm4che does: an AE title registered already stops the add before
        anything else is written. When an add fails half-way, the entries added before it are deleted again.

        Returns:
            The DNs added, in order.

        Raises:
            LdapEntryExistsError: the device or a registered name exists already (nothing is left behind).
            LdapSchemaError / LdapError: the server refused an entry (nothing is left behind).
        """
        with self._lock:
            entries: list[Entry] = list(registry_entries(device, self.base_dn)) if register else []
            entries += model_to_entries(device, devices_dn(self.base_dn))
            added: list[str] = []
            try:
                for dn, attributes in entries:
                    self._ldap.add(dn, attributes)
                    added.append(dn)
            except LdapError as exc:
                left = self._undo(added)
                what = f"adding device {device.device_name} failed at entry {len(added) + 1} of {len(entries)}"
                if isinstance(exc, LdapEntryExistsError) and "Unique AE Titles Registry" in (exc.dn or ""):
                    what += " (the AE title is registered already)"
                undo = (
                    f"; removed the {len(added)} entries added before it" if not left
                    else f"; could not remove {len(left)} entries added before it: {', '.join(left)}"
                ) if added else ""
                raise type(exc)(f"{what}: {_reason(exc)}{undo}", dn=exc.dn, result=exc.result) from exc
            return tuple(added)

    def _undo(self, added: Sequence[str]) -> list[str]:
        left = []
        for dn in reversed(added):
            try:
                self._ldap.delete(dn, allow_missing=True)
            except LdapError as exc:
                _log.error("could not undo the add of %s: %s", dn, exc, extra={"dn": dn})
                left.append(dn)
        return left

    def add_remote_ae(
        self,
        ae_title: str,
        hostname: str,
        port: int,
        *,
        device_name: str | None = None,
        connection_name: str = "dicom",
        description: str | None = None,
        tls_cipher_suites: Sequence[str] = (),
        transfer_capabilities: Sequence[TransferCapability] = (),
        installed: bool = True,
    ) -> Device:
        """Configure a destination AE: a device, its connection, its AE and the AE title's registry entry.

        Like dcm4che's ``sample-device.ldif``; all or nothing (see :meth:`add_device`). ``device_name``
        defaults to the AE title in lower case.

        Returns:
            The device as written.
        """
        device = Device(
            device_name=device_name or ae_title.lower(),
            installed=installed,
            description=description,
            connections=(
                Connection(name=connection_name, hostname=hostname, port=port,
                           tls_cipher_suites=tuple(tls_cipher_suites)),
            ),
            application_entities=(
                ApplicationEntity(
                    ae_title=ae_title,
                    connection_refs=(connection_name,),
                    association_initiator=True,
                    association_acceptor=True,
                    transfer_capabilities=tuple(transfer_capabilities),
                ),
            ),
        )
        self.add_device(device)
        return device

    def remove_device(self, device_name: str) -> int:
        """Delete a device with everything below it, and its AE titles and web application names from the
        unique-name registries.

        Returns:
            The number of entries deleted.

        Raises:
            LdapNoSuchEntryError: no such device.
        """
        with self._lock:
            return self._remove_subtree(device_dn(device_name, self.base_dn))

    def _remove_subtree(self, top: str) -> int:
        entries = self._ldap.search(
            top, "(objectClass=*)", SUBTREE, ("objectClass", "dicomAETitle", "dcmWebAppName")
        )
        by_dn = dict(entries)
        for dn in sorted(by_dn, key=dn_depth, reverse=True):
            self._ldap.delete(dn)
        registered = 0
        for _dn, attributes in entries:
            classes = {c.lower() for c in object_classes(attributes)}
            for name, values in attributes.items():
                if name.lower() == "dicomaetitle" and "dicomnetworkae" in classes:
                    registered += self._unregister(ae_title_registry_dn, values)
                elif name.lower() == "dcmwebappname" and "dcmwebapp" in classes:
                    registered += self._unregister(web_app_registry_dn, values)
        return len(entries) + registered

    def _unregister(self, registry_dn: Callable[[str, str], str], values: Iterable[Value]) -> int:
        """Delete the registry entries of these names; the number that existed."""
        done = 0
        for value in values:
            text = value if isinstance(value, str) else value.decode()
            before = self._ldap.round_trips
            self._ldap.delete(registry_dn(text, self.base_dn), allow_missing=True)
            done += 1 if self._ldap.round_trips > before else 0
        return done

    def remove_remote_ae(self, ae_title: str) -> int:
        """Remove a destination AE and its registry entry.

        Its device goes too when it holds nothing but this AE and connections (the shape
        :meth:`add_remote_ae` creates); otherwise only the AE entry and its children are deleted.

        Returns:
            The number of entries deleted (registry entries included).

        Raises:
            UnknownAEError: no such AE.
        """
        with self._lock:
            ae_dn = self._find_ae(ae_title, ("dicomAETitle",))[0]
            ddn = parent_dn(ae_dn)
            children = self._ldap.search(ddn, "(objectClass=*)", LEVEL, ("objectClass",))
            ae_norm = normalize_dn(ae_dn)
            only_this_ae = all(
                normalize_dn(dn) == ae_norm
                or "dicomnetworkconnection" in {c.lower() for c in object_classes(attributes)}
                for dn, attributes in children
            )
            return self._remove_subtree(ddn if only_this_ae else ae_dn)

    # --- exporters and queues -----------------------------------------------------------------------------

    def _device_dn(self, device_name: str | None) -> str:
        name = device_name or self.device_name
        if name:
            return device_dn(name, self.base_dn)
        if self._archive_dn is None:
            found = self._ldap.search(
                devices_dn(self.base_dn), "(objectClass=dcmArchiveDevice)", LEVEL, ("1.1",),
                allow_missing=True,
            )
            if len(found) != 1:
                names = ", ".join(str(parse_dn(dn)[0][0][1]) for dn, _ in found) or "none"
                raise ConfigurationError(
                    f"cannot tell which device holds exporters and queues: {len(found)} devices with object "
                    f"class dcmArchiveDevice ({names}); pass device_name",
                    dn=devices_dn(self.base_dn),
                )
            self._archive_dn = found[0][0]
        return self._archive_dn

    def add_exporter(self, exporter: ExporterDescriptor, *, device_name: str | None = None) -> str:
        """Add an exporter entry below the archive device (``device_name`` or the store's default).

        Returns:
            The DN of the new entry.

        Raises:
            LdapEntryExistsError: an exporter with this id exists.
            LdapNoSuchEntryError: the device does not exist.
        """
        with self._lock:
            dn, attributes = model_to_entry(exporter, self._device_dn(device_name))
            self._ldap.add(dn, attributes)
            return dn

    def update_exporter(
        self, exporter: ExporterDescriptor, *, device_name: str | None = None
    ) -> tuple[Modification, ...]:
        """Change an existing exporter, sending only the attributes whose values differ.

        An exporter built without ``object_classes`` / ``extra`` (a fresh object rather than one read from
        the server) keeps the entry's object classes and unmodelled attributes.

        Returns:
            The modifications sent (empty when nothing changed: then nothing is sent).

        Raises:
            LdapNoSuchEntryError: no such exporter.
        """
        with self._lock:
            return self._update(exporter, ExporterDescriptor, self._device_dn(device_name))

    def remove_exporter(self, exporter_id: str, *, device_name: str | None = None) -> None:
        """Delete an exporter entry.

        Raises:
            LdapNoSuchEntryError: no such exporter.
        """
        with self._lock:
            self._ldap.delete(child_dn(EXPORTER_RDN, exporter_id, self._device_dn(device_name)))

    def add_queue(self, queue: QueueDescriptor, *, device_name: str | None = None) -> str:
        """Add a queue entry (``dcmQueue``) below the archive device.

        Returns:
            The DN of the new entry.

        Raises:
            LdapEntryExistsError: a queue with this name exists.
        """
        with self._lock:
            dn, attributes = model_to_entry(queue, self._device_dn(device_name))
            self._ldap.add(dn, attributes)
            return dn

    def update_queue(self, queue: QueueDescriptor, *, device_name: str | None = None) -> tuple[Modification, ...]:
        """Change an existing queue, sending only the changed attributes (see :meth:`update_exporter`)."""
        with self._lock:
            return self._update(queue, QueueDescriptor, self._device_dn(device_name))

    def remove_queue(self, queue_name: str, *, device_name: str | None = None) -> None:
        """Delete a queue entry.

        Raises:
            LdapNoSuchEntryError: no such queue.
        """
        with self._lock:
            self._ldap.delete(child_dn(QUEUE_RDN, queue_name, self._device_dn(device_name)))

    def _update(self, model: Any, model_type: type[Any], parent: str) -> tuple[Modification, ...]:
        dn = entry_dn_of(model, parent)
        attributes = self._ldap.entry(dn)
        if attributes is None:
            raise LdapNoSuchEntryError(
                f"cannot update: no {type(model).__name__} entry at this DN (add it first)", dn=dn
            )
        current = model_from_entry(model_type, dn, attributes)
        if not model.object_classes:
            model = attrs.evolve(model, object_classes=current.object_classes)
        if not model.extra:
            model = attrs.evolve(model, extra=current.extra)
        ops = diff_entries([model_to_entry(current, parent)], [model_to_entry(model, parent)])
        sent: list[Modification] = []
        for op in ops:
            assert isinstance(op, ModifyEntry)  # same DN before and after: only modifications
            self._ldap.modify(op.dn, op.modifications, object_classes(attributes))
            sent.extend(op.modifications)
        return tuple(sent)

    # --- whole configurations -----------------------------------------------------------------------------

    def save(self, configuration: Configuration, *, since: Configuration | None = None) -> tuple[LdapOperation, ...]:
        """Make the server hold ``configuration``, sending only what differs (as dcm4chee's merge does).

        Without ``since`` the server's current tree is read (one search) and diffed against
        ``configuration``: entries missing from it are deleted, new ones added, and changed entries get one
        modify operation with only the changed attributes. With ``since`` (the configuration the
        application loaded and then changed) only the application's own changes are sent, leaving what
        others changed on the server meanwhile alone.

        All or nothing, as far as LDAP allows (it has no multi-entry transactions here): when the server
        refuses an operation, the entries already changed by this call are put back as they were in the
        configuration the changes were computed from (the server's tree, or ``since``), and the error says
        so. Entries this call did not touch are never written.

        Returns:
            The operations sent, in order.

        Raises:
            ConfigurationError: ``configuration`` lives under another base DN.
            LdapError: the server refused an operation; the message names it and says whether the operations
                applied before it were undone (or, if undoing failed too, that the server holds part of the
                change).
        """
        if normalize_dn(configuration.base_dn) != normalize_dn(self.base_dn):
            raise ConfigurationError(
                f"the configuration lives under {configuration.base_dn}, this store under {self.base_dn}"
            )
        with self._lock:
            before = since if since is not None else self.load()
            ops = diff_configurations(before, configuration)
            for i, op in enumerate(ops):
                try:
                    self._ldap.apply(op)
                except LdapError as exc:
                    kind = type(op).__name__.replace("Entry", "").lower()
                    undo = self._undo_save(ops[:i], before) if i else ""
                    raise type(exc)(
                        f"save stopped at operation {i + 1} of {len(ops)} ({kind}): {_reason(exc)}{undo}",
                        dn=exc.dn,
                        result=exc.result,
                    ) from exc
            if ops:
                _log.info("saved %d operations to %s", len(ops), self.url, extra={"operations": len(ops)})
            return tuple(ops)

    def _undo_save(self, applied: list[LdapOperation], before: Configuration) -> str:
        """Put the entries ``applied`` touched back as they are in ``before``; a note for the error message."""
        touched = {normalize_dn(op.dn) for op in applied}
        try:
            now = self.load()
            back = [op for op in diff_configurations(now, before) if normalize_dn(op.dn) in touched]
            for op in back:
                self._ldap.apply(op)
        except LdapError as exc:
            _log.error("save: undoing %d applied operations failed: %s", len(applied), _reason(exc))
            return (
                f"; the {len(applied)} operation(s) applied before it could not be undone ({_reason(exc)}): "
                "the server holds part of the change"
            )
        _log.warning("save: undid the %d operations applied before the refusal (%d sent)", len(applied), len(back))
        return f"; the {len(applied)} operation(s) applied before it were undone"

    # --- LDIF import --------------------------------------------------------------------------------------

    def import_ldif(
        self,
        source: LdifSource,
        *,
        filename: str | None = None,
        continue_on_error: bool = False,
        update_existing: bool = False,
        allow_file_urls: bool = False,
    ) -> ImportReport:
        """Import LDIF content or change records, like ``ldapadd`` / ``ldapmodify``: see
        :func:`dcm_exporter.config.ldap.importer.import_ldif` (parsed first; per-record report; stops at the first
        rejection unless ``continue_on_error``; ``update_existing`` sends only the differing attributes;
        ``:<`` file URL values are read only with ``allow_file_urls``).
        """
        with self._lock:
            return import_ldif(self._ldap, source, filename=filename, continue_on_error=continue_on_error,
                               update_existing=update_existing, allow_file_urls=allow_file_urls)


def _reason(exc: LdapError) -> str:
    """The message of an LdapError without the ``dn: ...`` / ``server said: ...`` parts it appends."""
    text = str(exc)
    for sep in ("; dn: ", "; server said: "):
        text = text.split(sep)[0]
    return text
