"""The whole configuration: devices, the entries nobody models, lookups and resolved views.

:class:`Configuration` is the aggregate of :class:`~dcm_exporter.models.Device` objects in one LDAP tree
(base DN ``dc=dcm4che,dc=org`` by default). It answers the lookups an exporter needs
(:meth:`Configuration.remote_ae`, :meth:`Configuration.web_application`) and checks references
(:meth:`Configuration.validate`).

It knows no format: reading and writing LDIF, device JSON and LDAP are functions at the edge
(:func:`dcm_exporter.load_configuration`, :mod:`dcm_exporter.codecs.ldif`, :mod:`dcm_exporter.codecs.device_json`,
:mod:`dcm_exporter.config.ldap`). DNs come from the leaf :mod:`dcm_exporter.dn`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from dcm_exporter._secrets import is_secret_name, mask_attributes, mask_properties, mask_url, repr_properties
from dcm_exporter._suggest import did_you_mean
from dcm_exporter.dn import (
    AE_RDN,
    DEFAULT_BASE_DN,
    EXPORTER_RDN,
    NAME_RDN,
    ae_title_registry_dn,
    child_dn,
    device_dn,
    normalize_dn,
    web_app_registry_dn,
)
from dcm_exporter.errors import AENotInstalledError, ConfigurationError, UnknownAEError
from dcm_exporter.models._frozen import FrozenMap
from dcm_exporter.models.device import ApplicationEntity, Connection, Device, TransferCapability
from dcm_exporter.models.enums import TransferRole
from dcm_exporter.models.exporter import ExporterDescriptor, invalid_uri_message
from dcm_exporter.models.queue import QueueDescriptor
from dcm_exporter.models.rule import ExportRule
from dcm_exporter.models.storage import StorageDescriptor
from dcm_exporter.models.webapp import WebApplication

__all__ = [
    "DEFAULT_BASE_DN",
    "Configuration",
    "LdapEntry",
    "RemoteAE",
    "RemoteWebApplication",
    "Severity",
    "SourceLocation",
    "ValidationIssue",
]

if TYPE_CHECKING:
    import os


def _freeze_attributes(value: Mapping[str, Iterable[str | bytes]]) -> FrozenMap[str, tuple[str | bytes, ...]]:
    if isinstance(value, FrozenMap) and all(isinstance(v, tuple) for v in value.values()):
        return value
    return FrozenMap((k, (v,) if isinstance(v, str | bytes) else tuple(v)) for k, v in value.items())


@attrs.frozen(kw_only=True)
class LdapEntry:
    """An LDAP entry that no model covers (roots, registries, HL7 applications, ...), kept verbatim."""

    dn: str
    """The entry's DN as read."""
    attributes: Mapping[str, tuple[str | bytes, ...]] = attrs.field(
        converter=_freeze_attributes, repr=lambda a: f"FrozenMap({mask_attributes(a)!r})"
    )
    """Attribute name (as written) -> values, ``objectClass`` included (secret ones masked in the repr)."""


@attrs.frozen
class SourceLocation:
    """Where an entry was read from: a file name (or ``<string>``) and a 1-based line."""

    filename: str
    line: int | None

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}" if self.line is not None else self.filename


class Severity(enum.Enum):
    """How bad a :class:`ValidationIssue` is."""

    ERROR = "error"
    WARNING = "warning"


@attrs.frozen(kw_only=True)
class ValidationIssue:
    """One finding of :meth:`Configuration.validate`."""

    severity: Severity
    message: str
    dn: str | None = None
    location: SourceLocation | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        dn = f" (in {self.dn})" if self.dn else ""
        return f"{where}{self.severity.value}: {self.message}{dn}"


@attrs.frozen(kw_only=True)
class RemoteAE:
    """A destination AE resolved to one connection: everything needed to open an association.

    Built by :meth:`Configuration.remote_ae`. Timeouts in milliseconds, ``None`` = no timeout.
    """

    ae_title: str
    device_name: str
    hostname: str
    port: int
    tls: bool
    tls_cipher_suites: tuple[str, ...]
    tls_protocols: tuple[str, ...]
    connect_timeout: int | None
    """``dcmTCPConnectTimeout`` of the chosen connection."""
    request_timeout: int | None
    """``dcmAARQTimeout`` of the chosen connection."""
    acceptance_timeout: int | None
    """``dcmAAACTimeout`` of the chosen connection."""
    response_timeout: int | None
    idle_timeout: int | None
    release_timeout: int | None = None
    """``dcmARRPTimeout`` of the chosen connection."""
    transfer_capabilities: tuple[TransferCapability, ...] = attrs.field(repr=False)
    installed: bool
    connection: Connection = attrs.field(repr=False)
    application_entity: ApplicationEntity = attrs.field(repr=False)

    def accepted_transfer_syntaxes(self, sop_class: str) -> tuple[str, ...] | None:
        """The transfer syntaxes the AE accepts as SCP for ``sop_class``.

        ``None`` when the AE has no SCP transfer capabilities configured at all (accept anything);
        ``()`` when it has some, but none for this SOP class. ``("*",)`` means any transfer syntax.
        """
        scp = [tc for tc in self.transfer_capabilities if tc.role is TransferRole.SCP]
        if not scp:
            return None
        exact = [tc for tc in scp if tc.sop_class == sop_class]
        chosen = exact or [tc for tc in scp if tc.sop_class == "*"]
        out: list[str] = []
        for tc in chosen:
            for ts in tc.transfer_syntaxes:
                if ts not in out:
                    out.append(ts)
        return tuple(out)

    def accepts(self, sop_class: str, transfer_syntax: str | None = None) -> bool:
        """Whether the AE accepts ``sop_class`` (in ``transfer_syntax``, when given)."""
        syntaxes = self.accepted_transfer_syntaxes(sop_class)
        if syntaxes is None:
            return True
        if not syntaxes:
            return False
        return transfer_syntax is None or "*" in syntaxes or transfer_syntax in syntaxes


@attrs.frozen(kw_only=True)
class RemoteWebApplication:
    """A web application resolved to one connection: the pieces of its base URL.

    Built by :meth:`Configuration.web_application`; ``base_url`` is e.g.
    ``http://localhost:8080/dcm4chee-arc/aets/DCM4CHEE/rs``.
    """

    name: str
    device_name: str
    scheme: str
    """``https`` when the chosen connection uses TLS, else ``http``."""
    hostname: str
    port: int | None
    service_path: str
    service_classes: tuple[str, ...]
    properties: Mapping[str, str] = attrs.field(repr=repr_properties)
    installed: bool
    connection: Connection | None = attrs.field(repr=False)
    web_application: WebApplication = attrs.field(repr=False)

    @property
    def base_url(self) -> str:
        """``scheme://hostname[:port]service_path``."""
        default = 443 if self.scheme == "https" else 80
        port = f":{self.port}" if self.port not in (None, default) else ""
        path = self.service_path if self.service_path.startswith("/") else "/" + self.service_path
        return f"{self.scheme}://{self.hostname}{port}{path.rstrip('/')}"


def _devices(value: Iterable[Device]) -> tuple[Device, ...]:
    return tuple(value)


def _entries(value: Iterable[LdapEntry]) -> tuple[LdapEntry, ...]:
    return tuple(value)


def _locations(value: Mapping[str, SourceLocation]) -> FrozenMap[str, SourceLocation]:
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


def _names(value: Iterable[str]) -> frozenset[str]:
    return value if isinstance(value, frozenset) else frozenset(value)


@attrs.frozen(kw_only=True)
class Configuration:
    """All devices of one dcm4che configuration tree, plus the entries no model covers.

    Device names must be unique. ``other_entries`` keeps every LDAP entry that is not a device or a
    modelled child (configuration roots, the unique-name registries, HL7 applications, attribute filters,
    ...), so writing it (:func:`dcm_exporter.codecs.ldif.dumps`) gives back everything that was read.

    The class knows no format. ``Configuration.from_ldif``, ``to_ldif``, ``from_json`` and ``to_json`` are
    deprecated aliases of :func:`dcm_exporter.codecs.ldif.load` / :func:`~dcm_exporter.codecs.ldif.dumps` and
    :func:`dcm_exporter.codecs.device_json.loads` / :func:`~dcm_exporter.codecs.device_json.dumps`: the codecs
    package sets them on this class when it is imported (which taking ``Configuration`` from
    ``dcm_exporter``, any codec, ``load_configuration``, the LDAP store, the ``Exporter`` or the CLI does), so
    the models never import a codec; each call warns with :class:`DeprecationWarning`.
    """

    devices: tuple[Device, ...] = attrs.field(factory=tuple, converter=_devices)
    """The devices, in the order read."""
    base_dn: str = DEFAULT_BASE_DN
    """The base DN below which ``cn=DICOM Configuration`` lives."""
    other_entries: tuple[LdapEntry, ...] = attrs.field(factory=tuple, converter=_entries, repr=False)
    """Entries of classes not modelled, in the order read."""
    locations: Mapping[str, SourceLocation] = attrs.field(
        factory=FrozenMap, converter=_locations, eq=False, repr=False
    )
    """Normalised DN -> where it was read (for messages only; not part of equality)."""
    registered_devices: frozenset[str] = attrs.field(factory=frozenset, converter=_names, repr=False)
    """Devices added with :meth:`add_device` ``(register=True)``: their AE titles and web application names
    belong in the unique-name registries. The registry entries are derived from the devices when the
    configuration is written (LDIF, LDAP), so they follow later changes of the devices; registry entries read
    from a file or server stay in :attr:`other_entries` as they were."""

    def __attrs_post_init__(self) -> None:
        names = [d.device_name for d in self.devices]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise ConfigurationError(f"duplicate device name(s): {', '.join(dups)}")


    def redacted(self) -> Configuration:
        """A copy for showing to people, every secret replaced by ``***``.

        Masked: exporter, web application and storage ``properties`` whose key names a secret
        (``bearer-token``, ``basic-auth``, any key containing ``password``, ``secret`` or ``token``, ...),
        the password of ``user:password@`` in ``dcmURI`` and ``dcmHTTPProxy``, and secret LDAP attributes
        (``dcmKeyStorePin``, ``dcmTrustStorePin``, ``dcmKeycloakClientSecret``, ``userPassword``, ...).
        Never write the copy back: it would replace the real secrets with ``***``.

        Examples:
            >>> from dcm_exporter.models import Device, ExporterDescriptor
            >>> e = ExporterDescriptor(exporter_id="WEB", uri="stow:https://u:pw@host/rs", queue_name="Export1",
            ...                        properties={"bearer-token": "abc"})
            >>> c = Configuration(devices=[Device(device_name="arc", exporters=[e])]).redacted()
            >>> c.exporters["WEB"].uri, dict(c.exporters["WEB"].properties)
            ('stow:https://u:***@host/rs', {'bearer-token': '***'})
        """
        return _redacted(self)

    # --- deprecated codec aliases ---------------------------------------------------------------------
    # The models know no format. ``from_ldif``/``to_ldif``/``from_json``/``to_json`` are installed on this
    # class by :mod:`dcm_exporter.codecs` (imported whenever a codec, a store, ``load_configuration`` or
    # ``dcm_exporter.Configuration`` is), so the aliases are no upward import; type checkers see them here.
    if TYPE_CHECKING:

        @classmethod
        def from_ldif(
            cls,
            source: str | bytes | os.PathLike[str] | Sequence[str | os.PathLike[str]],
            *,
            base_dn: str | None = None,
            filename: str | None = None,
            allow_file_urls: bool = False,
        ) -> Configuration:
            """Deprecated: :func:`dcm_exporter.load_configuration` or :func:`dcm_exporter.codecs.ldif.load`."""

        def to_ldif(self) -> str:
            """Deprecated: :func:`dcm_exporter.codecs.ldif.dumps`."""

        @classmethod
        def from_json(cls, source: str | bytes | Any, *, base_dn: str = DEFAULT_BASE_DN) -> Configuration:
            """Deprecated: :func:`dcm_exporter.load_configuration` or :func:`dcm_exporter.codecs.device_json.loads`."""

        def to_json(self, *, indent: int | None = 2) -> str:
            """Deprecated: :func:`dcm_exporter.codecs.device_json.dumps`."""

    # --- lookups ----------------------------------------------------------------------------------

    def device(self, device_name: str) -> Device:
        """The device with this name.

        Raises:
            ConfigurationError: no such device.
        """
        for d in self.devices:
            if d.device_name == device_name:
                return d
        raise ConfigurationError(f"Unknown device: {device_name}")

    def has_device(self, device_name: str) -> bool:
        """Whether a device with this name exists."""
        return any(d.device_name == device_name for d in self.devices)

    @property
    def exporters(self) -> Mapping[str, ExporterDescriptor]:
        """Exporter id -> exporter, over all devices (the first device wins on a clash)."""
        out: dict[str, ExporterDescriptor] = {}
        for d in self.devices:
            for e in d.exporters:
                out.setdefault(e.exporter_id, e)
        return FrozenMap(out)

    @property
    def queues(self) -> Mapping[str, QueueDescriptor]:
        """Queue name -> queue, over all devices (the first device wins on a clash)."""
        out: dict[str, QueueDescriptor] = {}
        for d in self.devices:
            for q in d.queues:
                out.setdefault(q.queue_name, q)
        return FrozenMap(out)

    @property
    def export_rules(self) -> tuple[ExportRule, ...]:
        """Every export rule: per device, its device-level rules then its AEs' rules."""
        return tuple(r for d in self.devices for r in d.all_export_rules())

    @property
    def web_applications(self) -> Mapping[str, WebApplication]:
        """Web application name -> web application, over all devices."""
        out: dict[str, WebApplication] = {}
        for d in self.devices:
            for w in d.web_applications:
                out.setdefault(w.name, w)
        return FrozenMap(out)

    @property
    def storages(self) -> Mapping[str, StorageDescriptor]:
        """Storage id -> storage descriptor, over all devices."""
        out: dict[str, StorageDescriptor] = {}
        for d in self.devices:
            for s in d.storages:
                out.setdefault(s.storage_id, s)
        return FrozenMap(out)

    def exporter_device(self, exporter_id: str) -> Device:
        """The device that holds the exporter.

        Raises:
            ConfigurationError: no such exporter.
        """
        for d in self.devices:
            if d.exporter(exporter_id) is not None:
                return d
        raise ConfigurationError(f"Unknown exporter: {exporter_id}{did_you_mean(exporter_id, self.exporters)}")

    def find_ae(self, ae_title: str) -> tuple[Device, ApplicationEntity]:
        """The device and network AE with this AE title (as dcm4che's ``(dicomAETitle=<aet>)`` search).

        Raises:
            UnknownAEError: no network AE with this title.
        """
        for d in self.devices:
            ae = d.application_entity(ae_title)
            if ae is not None:
                return d, ae
        raise UnknownAEError(ae_title, did_you_mean(ae_title, self._ae_titles()))

    def _ae_titles(self) -> list[str]:
        return [ae.ae_title for d in self.devices for ae in d.application_entities]

    def remote_ae(
        self, ae_title: str, *, local_ae_title: str | None = None, require_installed: bool = True
    ) -> RemoteAE:
        """Resolve a destination AE to one connection.

        The chosen connection is the first installed one of the AE that listens (port > 0) and, when
        ``local_ae_title`` is given, is compatible with one of the local AE's installed connections
        (both TLS with a common protocol and cipher suite, or both plain).

        Raises:
            UnknownAEError: no network AE with this title ("Unknown AE: X").
            AENotInstalledError: the AE or its device is not installed ("AE: X not installed"),
                unless ``require_installed`` is false.
            ConfigurationError: the AE has no (compatible) listening connection.
        """
        device, ae = self.find_ae(ae_title)
        installed = device.is_ae_installed(ae)
        if require_installed and not installed:
            raise AENotInstalledError(ae_title)
        local: list[Connection] = []
        if local_ae_title is not None:
            local_device, local_ae = self.find_ae(local_ae_title)
            local = [
                c
                for c in (local_device.connection(r) for r in local_ae.connection_refs)
                if local_device.is_connection_installed(c)
            ]
        chosen: Connection | None = None
        for ref in ae.connection_refs:
            conn = device.connection(ref)
            if not conn.is_listening or not device.is_connection_installed(conn):
                continue
            if local_ae_title is not None and not any(conn.is_compatible(lc) for lc in local):
                continue
            chosen = conn
            break
        if chosen is None or chosen.port is None:
            extra = f" compatible with the connections of {local_ae_title}" if local_ae_title else ""
            raise ConfigurationError(f"AE {ae_title} has no installed listening connection{extra}")
        return RemoteAE(
            ae_title=ae.ae_title,
            device_name=device.device_name,
            hostname=chosen.hostname,
            port=chosen.port,
            tls=chosen.is_tls,
            tls_cipher_suites=chosen.tls_cipher_suites,
            tls_protocols=chosen.effective_tls_protocols,
            connect_timeout=chosen.tcp_connect_timeout,
            request_timeout=chosen.aarq_timeout,
            acceptance_timeout=chosen.aaac_timeout,
            response_timeout=chosen.response_timeout,
            idle_timeout=chosen.idle_timeout,
            release_timeout=chosen.arrp_timeout,
            transfer_capabilities=ae.transfer_capabilities,
            installed=installed,
            connection=chosen,
            application_entity=ae,
        )

    def web_application(self, name: str, *, require_installed: bool = True) -> RemoteWebApplication:
        """Resolve a web application (e.g. the destination of a ``stow:`` exporter) to its base URL pieces.

        The connection is the first installed referenced one (a TLS connection gives ``https``); a web
        application without references uses the device's first installed HTTP connection.

        Raises:
            ConfigurationError: unknown or not installed web application, or no usable connection.
        """
        for device in self.devices:
            web = device.web_application(name)
            if web is None:
                continue
            installed = device.installed and web.installed is not False
            if require_installed and not installed:
                raise ConfigurationError(f"Web Application: {name} not installed")
            candidates = [device.connection(r) for r in web.connection_refs] or [
                c for c in device.connections if c.protocol.upper() == "HTTP"
            ]
            conn = next((c for c in candidates if device.is_connection_installed(c)), None)
            if conn is None:
                raise ConfigurationError(f"Web Application: {name} has no installed connection")
            return RemoteWebApplication(
                name=web.name,
                device_name=device.device_name,
                scheme="https" if conn.is_tls else "http",
                hostname=conn.hostname,
                port=conn.port if conn.port is not None and conn.port > 0 else None,
                service_path=web.service_path,
                service_classes=web.service_classes,
                properties=web.properties,
                installed=installed,
                connection=conn,
                web_application=web,
            )
        raise ConfigurationError(f"Unknown Web Application: {name}{did_you_mean(name, self.web_applications)}")

    # --- changes (each returns a new Configuration) ---------------------------------------------------

    def replace_device(self, device: Device) -> Configuration:
        """Add the device, or replace the one with the same name (keeping its position)."""
        devices = list(self.devices)
        for i, d in enumerate(devices):
            if d.device_name == device.device_name:
                devices[i] = device
                return attrs.evolve(self, devices=tuple(devices))
        return self.add_device(device)

    def add_device(self, device: Device, *, register: bool = True) -> Configuration:
        """Add a new device; with ``register``, its AE titles and web application names go into the
        unique-name registries when the configuration is written (as dcm4che does when a device is
        registered; see :attr:`registered_devices`).

        Raises:
            ConfigurationError: a device with that name exists already.
        """
        if self.has_device(device.device_name):
            raise ConfigurationError(f"device {device.device_name} exists already")
        registered = self.registered_devices | {device.device_name} if register else self.registered_devices
        return attrs.evolve(self, devices=(*self.devices, device), registered_devices=registered)

    def remove_device(self, device_name: str) -> Configuration:
        """Remove a device, the unmodelled entries below it and its registry entries.

        Raises:
            ConfigurationError: no such device.
        """
        device = self.device(device_name)
        below = "," + normalize_dn(device_dn(device_name, self.base_dn))
        registered = {normalize_dn(ae_title_registry_dn(ae.ae_title, self.base_dn))
                      for ae in device.application_entities}
        registered |= {normalize_dn(web_app_registry_dn(w.name, self.base_dn)) for w in device.web_applications}
        other = [
            e
            for e in self.other_entries
            if not normalize_dn(e.dn).endswith(below) and normalize_dn(e.dn) not in registered
        ]
        return attrs.evolve(
            self,
            devices=tuple(d for d in self.devices if d.device_name != device_name),
            other_entries=tuple(other),
            registered_devices=self.registered_devices - {device_name},
        )

    def _archive_device(self, device_name: str | None) -> Device:
        if device_name is not None:
            return self.device(device_name)
        for d in self.devices:
            if d.exporters or d.queues:
                return d
        if len(self.devices) == 1:
            return self.devices[0]
        raise ConfigurationError("name the device: more than one device and none holds exporters or queues")

    def put_exporter(self, exporter: ExporterDescriptor, *, device_name: str | None = None) -> Configuration:
        """Add or replace (by id) an exporter on a device (default: the one that already holds exporters)."""
        device = self._find_holder("exporter", exporter.exporter_id, device_name)
        kept = [e for e in device.exporters if e.exporter_id != exporter.exporter_id]
        ids = [e.exporter_id for e in device.exporters]
        pos = ids.index(exporter.exporter_id) if exporter.exporter_id in ids else len(kept)
        kept.insert(pos, exporter)
        return self.replace_device(attrs.evolve(device, exporters=tuple(kept)))

    def remove_exporter(self, exporter_id: str) -> Configuration:
        """Remove an exporter.

        Raises:
            ConfigurationError: no such exporter.
        """
        device = self.exporter_device(exporter_id)
        return self.replace_device(
            attrs.evolve(device, exporters=tuple(e for e in device.exporters if e.exporter_id != exporter_id))
        )

    def put_queue(self, queue: QueueDescriptor, *, device_name: str | None = None) -> Configuration:
        """Add or replace (by name) a queue on a device (default: the device that already holds queues)."""
        device = self._find_holder("queue", queue.queue_name, device_name)
        kept = [q for q in device.queues if q.queue_name != queue.queue_name]
        names = [q.queue_name for q in device.queues]
        pos = names.index(queue.queue_name) if queue.queue_name in names else len(kept)
        kept.insert(pos, queue)
        return self.replace_device(attrs.evolve(device, queues=tuple(kept)))

    def remove_queue(self, queue_name: str) -> Configuration:
        """Remove a queue.

        Raises:
            ConfigurationError: no such queue.
        """
        for d in self.devices:
            if d.queue(queue_name) is not None:
                kept = tuple(q for q in d.queues if q.queue_name != queue_name)
                return self.replace_device(attrs.evolve(d, queues=kept))
        raise ConfigurationError(f"Unknown queue: {queue_name}{did_you_mean(queue_name, self.queues)}")

    def _find_holder(self, kind: str, key: str, device_name: str | None) -> Device:
        if device_name is not None:
            return self.device(device_name)
        for d in self.devices:
            if (kind == "exporter" and d.exporter(key)) or (kind == "queue" and d.queue(key)):
                return d
        return self._archive_device(None)

    # --- validation -------------------------------------------------------------------------------

    def validate(self) -> list[ValidationIssue]:
        """Check references between objects; loading already rejected what no model can hold.

        Reports as errors what cannot work: an exporter whose ``dcmURI`` ``java.net.URI`` cannot parse
        (dcm4chee-arc-light would fail to load its device), whose ``dicom:`` destination AE is not configured,
        or whose ``stow:``/``wado:``/``storage:`` destination does not exist. Reports as warnings an exporter
        whose queue does not exist on its device (dcm4chee-arc loads such a configuration and fails only
        when it queues a task, as we do; upstream's ``sample-export.ldif`` names ``Export1``, a queue its
        ``default-config.ldif`` does not have), an exporter without ``dicomAETitle`` or whose AE title is not
        a local AE, export rules naming unknown exporters, and exporter ids used on more than one device.
        """
        issues: list[ValidationIssue] = []

        def add(severity: Severity, message: str, dn: str) -> None:
            location = self.locations.get(normalize_dn(dn))
            issues.append(ValidationIssue(severity=severity, message=message, dn=dn, location=location))

        seen: dict[str, str] = {}
        for device in self.devices:
            ddn = device_dn(device.device_name, self.base_dn)
            for e in device.exporters:
                dn = child_dn(EXPORTER_RDN, e.exporter_id, ddn)
                if e.exporter_id in seen:
                    add(
                        Severity.WARNING,
                        f"exporter {e.exporter_id} is also configured on device {seen[e.exporter_id]}",
                        dn,
                    )
                seen.setdefault(e.exporter_id, device.device_name)
                if (problem := e.uri_problem) is not None:
                    add(Severity.ERROR, invalid_uri_message(e.exporter_id, e.uri, problem), dn)
                if device.queue(e.queue_name) is None:
                    # a warning, as dcm4chee-arc loads it too: only queuing its tasks fails (upstream's own
                    # sample-export.ldif names Export1, which its default-config.ldif does not have)
                    add(
                        Severity.WARNING,
                        f"exporter {e.exporter_id}: queue {e.queue_name} does not exist on "
                        f"device {device.device_name}"
                        f"{did_you_mean(e.queue_name, [q.queue_name for q in device.queues])}; "
                        "its tasks cannot be queued until it does",
                        dn,
                    )
                if e.ae_title is None:
                    add(
                        Severity.WARNING,
                        f"exporter {e.exporter_id} has no dicomAETitle (the calling AE); "
                        "exports will fail until it is set",
                        dn,
                    )
                elif device.application_entity(e.ae_title) is None:
                    add(
                        Severity.WARNING,
                        f"exporter {e.exporter_id}: AE title {e.ae_title} is not an AE of "
                        f"device {device.device_name}",
                        dn,
                    )
                if e.scheme == "dicom":
                    try:
                        self.find_ae(e.destination)
                    except UnknownAEError:
                        add(Severity.ERROR, f"exporter {e.exporter_id}: Unknown AE: {e.destination}"
                            f"{did_you_mean(e.destination, self._ae_titles())}", dn)
                elif (e.scheme in ("stow", "wado") and "://" not in e.destination
                      and e.destination not in self.web_applications):
                    add(
                        Severity.ERROR,
                        f"exporter {e.exporter_id}: Unknown Web Application: {e.destination}"
                        f"{did_you_mean(e.destination, self.web_applications)}",
                        dn,
                    )
                elif e.scheme == "storage" and e.destination not in self.storages:
                    add(Severity.ERROR, f"exporter {e.exporter_id}: Unknown storage: {e.destination}"
                        f"{did_you_mean(e.destination, self.storages)}", dn)
            exporters = {e.exporter_id for e in device.exporters}
            for rule in device.all_export_rules():
                parent = ddn if rule.ae_title is None else child_dn(AE_RDN, rule.ae_title, ddn)
                dn = child_dn(NAME_RDN, rule.name, parent)
                targets = (
                    {e.exporter_id for e in self.device(rule.device_name).exporters}
                    if rule.device_name and self.has_device(rule.device_name)
                    else exporters
                )
                for eid in rule.exporter_ids:
                    if eid not in targets:
                        add(Severity.WARNING, f"export rule {rule.name!r}: exporter {eid} does not exist", dn)
                if rule.device_name and not self.has_device(rule.device_name):
                    add(
                        Severity.WARNING,
                        f"export rule {rule.name!r}: device {rule.device_name} does not exist",
                        dn,
                    )
        return issues


def _redacted(configuration: Configuration) -> Configuration:
    """:meth:`Configuration.redacted`: every secret value replaced by ``***``."""

    def extra(model: Any) -> dict[str, Any]:
        return {"extra": mask_attributes(model.extra)} if _has_secret_attribute(model.extra) else {}

    devices = []
    for device in configuration.devices:
        devices.append(attrs.evolve(
            device,
            connections=tuple(
                attrs.evolve(c, http_proxy=None if c.http_proxy is None else mask_url(c.http_proxy), **extra(c))
                for c in device.connections
            ),
            application_entities=tuple(attrs.evolve(ae, **extra(ae)) for ae in device.application_entities),
            exporters=tuple(
                attrs.evolve(e, uri=mask_url(e.uri), properties=mask_properties(e.properties), **extra(e))
                for e in device.exporters
            ),
            web_applications=tuple(
                attrs.evolve(w, properties=mask_properties(w.properties), **extra(w))
                for w in device.web_applications
            ),
            storages=tuple(
                attrs.evolve(s, uri=mask_url(s.uri), properties=mask_properties(s.properties), **extra(s))
                for s in device.storages
            ),
            **extra(device),
        ))
    others = tuple(
        LdapEntry(dn=entry.dn, attributes=mask_attributes(entry.attributes))
        if _has_secret_attribute(entry.attributes) else entry
        for entry in configuration.other_entries
    )
    return attrs.evolve(configuration, devices=devices, other_entries=others)


def _has_secret_attribute(attributes: Mapping[str, Any]) -> bool:
    return any(is_secret_name(k) for k in attributes)
