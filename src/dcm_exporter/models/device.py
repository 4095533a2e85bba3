"""Devices, network connections, network AEs and transfer capabilities (DICOM PS3.15 Annex H, dcm4che)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import attrs

from dcm_exporter.errors import ConfigurationError
from dcm_exporter.models._fields import (
    bool_field,
    extra_field,
    non_empty,
    object_classes_field,
    optional_bool,
    optional_int,
    optional_str,
    tuple_field,
    url_field,
)
from dcm_exporter.models.coercion import AttributeCoercion, LegacyAttributeCoercion
from dcm_exporter.models.enums import TransferRole
from dcm_exporter.models.exporter import ExporterDescriptor
from dcm_exporter.models.queue import QueueDescriptor
from dcm_exporter.models.rule import ExportRule
from dcm_exporter.models.storage import StorageDescriptor
from dcm_exporter.models.webapp import WebApplication

__all__ = ["DEFAULT_TLS_PROTOCOLS", "ApplicationEntity", "Connection", "Device", "TransferCapability"]


def _t_aes(values: Iterable[ApplicationEntity]) -> tuple[ApplicationEntity, ...]:
    return tuple(values)


def _t_conns(values: Iterable[Connection]) -> tuple[Connection, ...]:
    return tuple(values)


def _t_rules(values: Iterable[ExportRule]) -> tuple[ExportRule, ...]:
    return tuple(values)


def _t_coercions(values: Iterable[AttributeCoercion]) -> tuple[AttributeCoercion, ...]:
    return tuple(values)


def _t_legacy(values: Iterable[LegacyAttributeCoercion]) -> tuple[LegacyAttributeCoercion, ...]:
    return tuple(values)


def _t_exporters(values: Iterable[ExporterDescriptor]) -> tuple[ExporterDescriptor, ...]:
    return tuple(values)


def _t_queues(values: Iterable[QueueDescriptor]) -> tuple[QueueDescriptor, ...]:
    return tuple(values)


def _t_storages(values: Iterable[StorageDescriptor]) -> tuple[StorageDescriptor, ...]:
    return tuple(values)


def _t_tcs(values: Iterable[TransferCapability]) -> tuple[TransferCapability, ...]:
    return tuple(values)


def _t_webapps(values: Iterable[WebApplication]) -> tuple[WebApplication, ...]:
    return tuple(values)


DEFAULT_TLS_PROTOCOLS: tuple[str, ...] = ("TLSv1.2",)
"""dcm4che's TLS protocols when a TLS connection configures none (``dcmTLSProtocol``)."""


@attrs.frozen(kw_only=True)
class TransferCapability:
    """One SOP class an AE supports in a role, with its transfer syntaxes (``dicomTransferCapability``)."""

    name: str | None = attrs.field(default=None, validator=optional_str)
    """``cn`` (dcm4che names them like ``CT Image Storage SCP``)."""
    sop_class: str = attrs.field(validator=non_empty)
    """``dicomSOPClass``: a SOP class UID, or ``*`` for any."""
    role: TransferRole = attrs.field(converter=TransferRole)
    """``dicomTransferRole``: SCU or SCP."""
    transfer_syntaxes: tuple[str, ...] = tuple_field()
    """``dicomTransferSyntax``: UIDs, or ``*`` for any."""
    extra: Mapping[str, tuple[str | bytes, ...]] = extra_field()
    """LDAP attributes not modelled here (``dcmTransferCapability`` options), kept verbatim."""
    object_classes: tuple[str, ...] = object_classes_field()
    """Object classes as read."""

    @property
    def key(self) -> str:
        """The name, or ``<sop class> <role>`` for an unnamed capability (its RDN in LDAP)."""
        return self.name if self.name else f"{self.sop_class} {self.role.value}"


def _check_port(instance: Connection, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= 65535:
        raise ConfigurationError(f"connection {instance.name or instance.hostname!r}: invalid port {value!r}")


@attrs.frozen(kw_only=True)
class Connection:
    """A network connection of a device (``dicomNetworkConnection`` + ``dcmNetworkConnection``).

    Timeouts are in milliseconds; ``None`` means dcm4che's default (no timeout).

    Examples:
        >>> c = Connection(name="dicom", hostname="localhost", port=11117)
        >>> c.is_listening, c.is_tls
        (True, False)
    """

    name: str | None = attrs.field(default=None, validator=optional_str)
    """``cn``: the name AEs and web applications refer to."""
    hostname: str = attrs.field(validator=non_empty)
    """``dicomHostname``."""
    port: int | None = attrs.field(default=None, validator=_check_port)
    """``dicomPort``; ``None`` (or -1): the connection does not listen."""
    tls_cipher_suites: tuple[str, ...] = tuple_field()
    """``dicomTLSCipherSuite``: TLS is on when any is set."""
    tls_protocols: tuple[str, ...] = tuple_field()
    """``dcmTLSProtocol``; empty = dcm4che's default, :data:`DEFAULT_TLS_PROTOCOLS`."""
    installed: bool | None = attrs.field(default=None, validator=optional_bool)
    """``dicomInstalled``; ``None`` inherits the device's."""
    protocol: str = attrs.field(default="DICOM", validator=non_empty)
    """``dcmProtocol``: DICOM, HL7, HTTP, SYSLOG_TLS, SYSLOG_UDP, ..."""
    http_proxy: str | None = url_field(optional_str, default=None)
    """``dcmHTTPProxy`` (a password in it is masked in the repr)."""
    tcp_connect_timeout: int | None = attrs.field(default=None, validator=optional_int(0))
    """``dcmTCPConnectTimeout`` (ms)."""
    aarq_timeout: int | None = attrs.field(default=None, validator=optional_int(0))
    """``dcmAARQTimeout`` (ms): wait for an A-ASSOCIATE-RQ."""
    aaac_timeout: int | None = attrs.field(default=None, validator=optional_int(0))
    """``dcmAAACTimeout`` (ms): wait for an A-ASSOCIATE-AC."""
    arrp_timeout: int | None = attrs.field(default=None, validator=optional_int(0))
    """``dcmARRPTimeout`` (ms): wait for an A-RELEASE-RP."""
    send_timeout: int | None = attrs.field(default=None, validator=optional_int(0))
    """``dcmSendTimeout`` (ms)."""
    store_timeout: int | None = attrs.field(default=None, validator=optional_int(0))
    """``dcmStoreTimeout`` (ms)."""
    response_timeout: int | None = attrs.field(default=None, validator=optional_int(0))
    """``dcmResponseTimeout`` (ms): wait for a DIMSE response."""
    retrieve_timeout: int | None = attrs.field(default=None, validator=optional_int(0))
    """``dcmRetrieveTimeout`` (ms)."""
    idle_timeout: int | None = attrs.field(default=None, validator=optional_int(0))
    """``dcmIdleTimeout`` (ms): release an idle association."""
    bind_address: str | None = attrs.field(default=None, validator=optional_str)
    """``dcmBindAddress``: listening address."""
    client_bind_address: str | None = attrs.field(default=None, validator=optional_str)
    """``dcmClientBindAddress``: source address of outgoing connections."""
    extra: Mapping[str, tuple[str | bytes, ...]] = extra_field()
    """LDAP attributes not modelled here, kept verbatim."""
    object_classes: tuple[str, ...] = object_classes_field()
    """Object classes as read."""

    @property
    def key(self) -> str:
        """How AEs refer to this connection: its name, or ``hostname:port`` when unnamed."""
        if self.name:
            return self.name
        return f"{self.hostname}:{self.port}" if self.port is not None else self.hostname

    @property
    def is_tls(self) -> bool:
        """TLS is on when any cipher suite is configured."""
        return bool(self.tls_cipher_suites)

    @property
    def is_listening(self) -> bool:
        """The connection accepts associations (``dicomPort`` > 0)."""
        return self.port is not None and self.port > 0

    @property
    def effective_tls_protocols(self) -> tuple[str, ...]:
        """The TLS protocols in effect (configured, or :data:`DEFAULT_TLS_PROTOCOLS`); empty without TLS."""
        if not self.is_tls:
            return ()
        return self.tls_protocols or DEFAULT_TLS_PROTOCOLS

    def is_compatible(self, other: Connection) -> bool:
        """dcm4che's check: both plain, or both TLS with a common protocol and a common cipher suite."""
        if self.is_tls != other.is_tls:
            return False
        if not self.is_tls:
            return True
        return bool(set(self.effective_tls_protocols) & set(other.effective_tls_protocols)) and bool(
            set(self.tls_cipher_suites) & set(other.tls_cipher_suites)
        )


@attrs.frozen(kw_only=True)
class ApplicationEntity:
    """A network AE (``dicomNetworkAE`` + ``dcmNetworkAE``), its transfer capabilities and AE-level rules."""

    ae_title: str = attrs.field(validator=non_empty)
    """``dicomAETitle``."""
    connection_refs: tuple[str, ...] = tuple_field()
    """``dicomNetworkConnectionReference``: keys (names) of this device's connections."""
    association_initiator: bool = bool_field(False)
    """``dicomAssociationInitiator``."""
    association_acceptor: bool = bool_field(False)
    """``dicomAssociationAcceptor``."""
    installed: bool | None = attrs.field(default=None, validator=optional_bool)
    """``dicomInstalled``; ``None`` inherits the device's."""
    description: str | None = attrs.field(default=None, validator=optional_str)
    """``dicomDescription``."""
    other_ae_titles: tuple[str, ...] = tuple_field()
    """``dcmOtherAETitle``."""
    preferred_transfer_syntaxes: tuple[str, ...] = tuple_field()
    """``dcmPreferredTransferSyntax``."""
    transfer_capabilities: tuple[TransferCapability, ...] = attrs.field(factory=tuple, converter=_t_tcs)
    """Child ``dicomTransferCapability`` entries."""
    export_rules: tuple[ExportRule, ...] = attrs.field(factory=tuple, converter=_t_rules)
    """Child ``dcmExportRule`` entries (rules applying to objects received by this AE)."""
    attribute_coercions: tuple[AttributeCoercion, ...] = attrs.field(factory=tuple, converter=_t_coercions)
    """Child ``dcmArchiveAttributeCoercion2`` entries (AE-level coercion rules)."""
    legacy_attribute_coercions: tuple[LegacyAttributeCoercion, ...] = attrs.field(
        factory=tuple, converter=_t_legacy
    )
    """Child legacy ``dcmArchiveAttributeCoercion`` entries."""
    extra: Mapping[str, tuple[str | bytes, ...]] = extra_field()
    """LDAP attributes not modelled here (e.g. ``dcmArchiveNetworkAE`` settings), kept verbatim."""
    object_classes: tuple[str, ...] = object_classes_field()
    """Object classes as read."""

    def __attrs_post_init__(self) -> None:
        if any(r.ae_title is None for r in self.export_rules):
            aet = self.ae_title
            rules = tuple(r if r.ae_title else attrs.evolve(r, ae_title=aet) for r in self.export_rules)
            object.__setattr__(self, "export_rules", rules)
        _own_coercions(self)
        _unique("transfer capability", (tc.key for tc in self.transfer_capabilities), f"AE {self.ae_title}")
        _unique("export rule", (r.name for r in self.export_rules), f"AE {self.ae_title}")
        for rule in self.export_rules:
            if rule.ae_title is not None and rule.ae_title != self.ae_title:
                raise ConfigurationError(
                    f"AE {self.ae_title}: export rule {rule.name!r} says it belongs to AE {rule.ae_title}"
                )

    def transfer_capabilities_for(self, role: TransferRole) -> tuple[TransferCapability, ...]:
        """The transfer capabilities in one role."""
        return tuple(tc for tc in self.transfer_capabilities if tc.role is role)


def _own_coercions(ae: ApplicationEntity) -> None:
    """Give AE-level coercion rules the AE's title (as the DN does) and check the names are unique."""
    for field in ("attribute_coercions", "legacy_attribute_coercions"):
        rules: tuple[AttributeCoercion | LegacyAttributeCoercion, ...] = getattr(ae, field)
        for rule in rules:
            if rule.ae_title is not None and rule.ae_title != ae.ae_title:
                raise ConfigurationError(
                    f"AE {ae.ae_title}: attribute coercion {rule.name!r} says it belongs to AE {rule.ae_title}"
                )
        if any(r.ae_title is None for r in rules):
            object.__setattr__(ae, field, tuple(attrs.evolve(r, ae_title=ae.ae_title) for r in rules))
    _unique(
        "attribute coercion",
        [*(r.name for r in ae.attribute_coercions), *(r.name for r in ae.legacy_attribute_coercions)],
        f"AE {ae.ae_title}",
    )


def _unique(what: str, keys: Iterable[str], where: str) -> None:
    dups = [k for k, n in Counter(keys).items() if n > 1]
    if dups:
        raise ConfigurationError(f"{where}: duplicate {what} {', '.join(repr(d) for d in dups)}")


@attrs.frozen(kw_only=True)
class Device:
    """A DICOM device (``dicomDevice`` [+ ``dcmDevice``] [+ ``dcmArchiveDevice``]) and everything below it.

    Construction checks that names are unique within the device and that every connection reference of
    its AEs and web applications names one of its connections.
    """

    device_name: str = attrs.field(validator=non_empty)
    """``dicomDeviceName``."""
    installed: bool = bool_field(True)
    """``dicomInstalled``."""
    description: str | None = attrs.field(default=None, validator=optional_str)
    """``dicomDescription``."""
    primary_device_types: tuple[str, ...] = tuple_field()
    """``dicomPrimaryDeviceType``."""
    connections: tuple[Connection, ...] = attrs.field(factory=tuple, converter=_t_conns)
    """Child ``dicomNetworkConnection`` entries."""
    application_entities: tuple[ApplicationEntity, ...] = attrs.field(factory=tuple, converter=_t_aes)
    """Child ``dicomNetworkAE`` entries."""
    exporters: tuple[ExporterDescriptor, ...] = attrs.field(factory=tuple, converter=_t_exporters)
    """Child ``dcmExporter`` entries."""
    queues: tuple[QueueDescriptor, ...] = attrs.field(factory=tuple, converter=_t_queues)
    """Child ``dcmQueue`` entries."""
    export_rules: tuple[ExportRule, ...] = attrs.field(factory=tuple, converter=_t_rules)
    """Device-level ``dcmExportRule`` children."""
    web_applications: tuple[WebApplication, ...] = attrs.field(factory=tuple, converter=_t_webapps)
    """Child ``dcmWebApp`` entries."""
    storages: tuple[StorageDescriptor, ...] = attrs.field(factory=tuple, converter=_t_storages)
    """Child ``dcmStorage`` entries."""
    attribute_coercions: tuple[AttributeCoercion, ...] = attrs.field(factory=tuple, converter=_t_coercions)
    """Device-level ``dcmArchiveAttributeCoercion2`` children."""
    legacy_attribute_coercions: tuple[LegacyAttributeCoercion, ...] = attrs.field(
        factory=tuple, converter=_t_legacy
    )
    """Device-level legacy ``dcmArchiveAttributeCoercion`` children."""
    extra: Mapping[str, tuple[str | bytes, ...]] = extra_field()
    """LDAP attributes not modelled here (``dcmDevice``/``dcmArchiveDevice`` settings), kept verbatim."""
    object_classes: tuple[str, ...] = object_classes_field()
    """Object classes as read."""

    def __attrs_post_init__(self) -> None:
        where = f"device {self.device_name}"
        _unique("connection", (c.key for c in self.connections), where)
        _unique("AE title", (ae.ae_title for ae in self.application_entities), where)
        _unique("exporter", (e.exporter_id for e in self.exporters), where)
        _unique("queue", (q.queue_name for q in self.queues), where)
        _unique("export rule", (r.name for r in self.export_rules), where)
        _unique("web application", (w.name for w in self.web_applications), where)
        _unique("storage", (s.storage_id for s in self.storages), where)
        coercions: tuple[AttributeCoercion | LegacyAttributeCoercion, ...] = (
            *self.attribute_coercions,
            *self.legacy_attribute_coercions,
        )
        _unique("attribute coercion", (c.name for c in coercions), where)
        for coercion in coercions:
            if coercion.ae_title is not None:
                raise ConfigurationError(
                    f"{where}: device-level attribute coercion {coercion.name!r} must not carry ae_title "
                    f"{coercion.ae_title!r}"
                )
        keys = {c.key for c in self.connections}
        for ae in self.application_entities:
            for ref in ae.connection_refs:
                if ref not in keys:
                    raise ConfigurationError(
                        f"{where}: AE {ae.ae_title} refers to connection {ref!r}, which the device does not "
                        f"have (it has: {', '.join(sorted(keys)) or 'none'})"
                    )
        for web in self.web_applications:
            for ref in web.connection_refs:
                if ref not in keys:
                    raise ConfigurationError(
                        f"{where}: web application {web.name} refers to connection {ref!r}, which the device "
                        f"does not have (it has: {', '.join(sorted(keys)) or 'none'})"
                    )
        for rule in self.export_rules:
            if rule.ae_title is not None:
                raise ConfigurationError(
                    f"{where}: device-level export rule {rule.name!r} must not carry ae_title "
                    f"{rule.ae_title!r}"
                )

    def connection(self, key: str) -> Connection:
        """The connection with this name (or ``hostname:port`` key).

        Raises:
            ConfigurationError: no such connection.
        """
        for c in self.connections:
            if c.key == key:
                return c
        raise ConfigurationError(f"device {self.device_name} has no connection {key!r}")

    def application_entity(self, ae_title: str) -> ApplicationEntity | None:
        """The AE with this title, or ``None``."""
        return next((ae for ae in self.application_entities if ae.ae_title == ae_title), None)

    def exporter(self, exporter_id: str) -> ExporterDescriptor | None:
        """The exporter with this id, or ``None``."""
        return next((e for e in self.exporters if e.exporter_id == exporter_id), None)

    def queue(self, queue_name: str) -> QueueDescriptor | None:
        """The queue with this name, or ``None``."""
        return next((q for q in self.queues if q.queue_name == queue_name), None)

    def web_application(self, name: str) -> WebApplication | None:
        """The web application with this name, or ``None``."""
        return next((w for w in self.web_applications if w.name == name), None)

    def storage(self, storage_id: str) -> StorageDescriptor | None:
        """The storage with this id, or ``None``."""
        return next((s for s in self.storages if s.storage_id == storage_id), None)

    def is_ae_installed(self, ae: ApplicationEntity) -> bool:
        """dcm4che: an AE is installed when its device is and its own flag is not FALSE."""
        return self.installed and ae.installed is not False

    def is_connection_installed(self, connection: Connection) -> bool:
        """dcm4che: a connection is installed when its device is and its own flag is not FALSE."""
        return self.installed and connection.installed is not False

    def all_export_rules(self) -> tuple[ExportRule, ...]:
        """Device-level rules followed by every AE's rules."""
        rules = list(self.export_rules)
        for ae in self.application_entities:
            rules.extend(ae.export_rules)
        return tuple(rules)
