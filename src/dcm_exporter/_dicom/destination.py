"""Where a DICOM peer is: a remote AE of the configuration resolved to host, port, TLS and timeouts.

The ``dicom:`` transport and the after-export actions (storage commitment, IAN) resolve their peers here,
so both connect the same way: the connection's host and port, a TLS context from its cipher suites and
protocols plus the exporter's ``TLS*`` properties, and its timeouts (defaults where none is configured).
"""

from __future__ import annotations

import logging
import ssl
from typing import TYPE_CHECKING

import attrs

from dcm_exporter.errors import ConfigurationError

if TYPE_CHECKING:
    from dcm_exporter.models import Configuration, Connection, ExporterDescriptor
    from dcm_exporter.models.configuration import RemoteAE

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_RELEASE_TIMEOUT",
    "DEFAULT_REQUEST_TIMEOUT",
    "DEFAULT_RESPONSE_TIMEOUT",
    "Destination",
    "Listener",
    "destination_of",
    "exporter_property",
    "listeners_of",
    "resolve_destination",
    "seconds",
]

log = logging.getLogger("dcm_exporter.actions")  # its one message is about the actions' embedded SCP

#: Defaults (seconds) when the connection does not configure a timeout (``None`` or 0).
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_RESPONSE_TIMEOUT = 60.0
DEFAULT_IDLE_TIMEOUT = 10.0
#: An A-RELEASE as a whole (dcm4che waits without limit when ``dcmARRPTimeout`` is not set): ``close()`` of a
#: pool must end even when a peer never answers the A-RELEASE-RQ.
DEFAULT_RELEASE_TIMEOUT = 5.0


@attrs.frozen(kw_only=True)
class Destination:
    """Where to connect and with which timeouts (seconds, ``None`` = wait forever; ``release_timeout`` bounds
    an A-RELEASE as a whole and is never ``None``)."""

    ae_title: str
    host: str
    port: int
    ssl_context: ssl.SSLContext | None = None
    connect_timeout: float | None = 10.0
    request_timeout: float | None = 30.0
    response_timeout: float | None = 60.0
    release_timeout: float = DEFAULT_RELEASE_TIMEOUT

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}{' (TLS)' if self.ssl_context else ''}"

    @property
    def where(self) -> str:
        """``AE <title> at <host>:<port>``, as messages name the peer."""
        return f"AE {self.ae_title} at {self.host}:{self.port}"


def seconds(ms: int | None, default: float) -> float:
    """A configured timeout in milliseconds as seconds; ``default`` when none (``None`` or 0) is configured."""
    return default if not ms else ms / 1000.0


def exporter_property(exporter: ExporterDescriptor, name: str) -> str | None:
    """The exporter's ``dcmProperty`` ``name`` (exact key first, then case-insensitive), or ``None``."""
    props = exporter.properties
    if name in props:
        return props[name]
    return {k.lower(): v for k, v in props.items()}.get(name.lower())


def destination_of(remote: RemoteAE, ssl_context: ssl.SSLContext | None) -> Destination:
    """The :class:`Destination` of a remote AE: its host and port, ``ssl_context`` and its timeouts
    (the ``DEFAULT_*`` seconds where the connection configures none).

    The A-ASSOCIATE-AC is awaited for ``dcmAAACTimeout`` (dcm4che's timeout for it), else ``dcmAARQTimeout``
    (which this library used for it before), else 30 s; the A-RELEASE-RP for ``dcmARRPTimeout``, else 5 s."""
    return Destination(
        ae_title=remote.ae_title,
        host=remote.hostname,
        port=remote.port,
        ssl_context=ssl_context,
        connect_timeout=seconds(remote.connect_timeout, DEFAULT_CONNECT_TIMEOUT),
        request_timeout=seconds(remote.acceptance_timeout or remote.request_timeout, DEFAULT_REQUEST_TIMEOUT),
        response_timeout=seconds(remote.response_timeout, DEFAULT_RESPONSE_TIMEOUT),
        release_timeout=seconds(remote.release_timeout, DEFAULT_RELEASE_TIMEOUT),
    )


def tls_context_of(remote: RemoteAE, exporter: ExporterDescriptor | None, ca_file: str | None = None) -> ssl.SSLContext:
    """The TLS context for ``remote``: its cipher suites and protocols, the exporter's ``TLSCACertificates``,
    ``TLSCertificate`` and ``TLSKey`` properties (``ca_file`` when there is no exporter)."""
    from dcm_exporter._dicom.tls import make_ssl_context

    def prop(name: str) -> str | None:
        return exporter_property(exporter, name) if exporter is not None else None

    return make_ssl_context(
        ae_title=remote.ae_title,
        cipher_suites=remote.tls_cipher_suites,
        protocols=remote.tls_protocols,
        ca_file=prop("TLSCACertificates") if exporter is not None else ca_file,
        cert_file=prop("TLSCertificate"),
        key_file=prop("TLSKey"),
    )


def resolve_destination(configuration: Configuration, ae_title: str, exporter: ExporterDescriptor) -> Destination:
    """Resolve a peer AE title to host, port, TLS context and timeouts, as the ``dicom:`` transport does.

    Raises:
        UnknownAEError, AENotInstalledError, ConfigurationError: the AE cannot be used.
    """
    remote = configuration.remote_ae(ae_title)
    return destination_of(remote, tls_context_of(remote, exporter) if remote.tls else None)


@attrs.frozen(kw_only=True)
class Listener:
    """A listening connection of one of our AEs, as the embedded storage commitment SCP serves it, with its
    bounds (seconds) on the peers that connect: ``associate_timeout`` to send the A-ASSOCIATE-RQ
    (``dcmAARQTimeout``), ``idle_timeout`` for an association that sends nothing (``dcmIdleTimeout``);
    ``None``: not configured, the SCP's defaults."""

    host: str
    """Where to bind: the connection's ``dcmBindAddress``, else its host name."""
    port: int
    ssl_context: ssl.SSLContext | None = None
    """The server TLS context of a TLS connection (``dicomTLSCipherSuite``); ``None``: plain."""
    name: str = ""
    """The connection's name (its key), for messages."""
    associate_timeout: float | None = None
    idle_timeout: float | None = None


def listeners_of(
    configuration: Configuration, ae_title: str, exporter: ExporterDescriptor | None = None
) -> list[Listener]:
    """Where the embedded SCP of a local AE listens: each of its installed listening connections.

    Binds to the connection's ``dcmBindAddress`` when set, else its host name; the connection's
    ``dcmAARQTimeout`` and ``dcmIdleTimeout`` bound the peers (the SCP's defaults when not set). A TLS
    connection (``dicomTLSCipherSuite``) is served with TLS: its cipher suites and protocols, the exporter's
    ``TLSCertificate`` / ``TLSKey`` as our certificate, its ``TLSCACertificates`` (else the system's trust
    store) to verify the reporter's certificate, which is required unless the connection's
    ``dcmTLSNeedClientAuth`` is ``FALSE``. A TLS connection that cannot be served so (no certificate, an
    unreadable file, an unknown suite) is left out with a warning saying why. Empty when the AE is not
    configured or has no listening connection (then only same-association reports can arrive).
    """
    try:
        device, ae = configuration.find_ae(ae_title)
    except ConfigurationError:
        return []
    found: list[Listener] = []
    for ref in ae.connection_refs:
        try:
            conn = device.connection(ref)
        except (ConfigurationError, KeyError, LookupError):
            continue
        if not (conn.is_listening and device.is_connection_installed(conn) and conn.port):
            continue
        context = None
        if conn.is_tls:
            try:
                context = _server_tls_context(conn, ae_title, exporter)
            except ConfigurationError as exc:
                log.warning("the embedded storage commitment SCP does not serve %s: %s", conn.key, exc)
                continue
        found.append(
            Listener(
                host=conn.bind_address or conn.hostname,
                port=int(conn.port),
                ssl_context=context,
                name=conn.key,
                associate_timeout=conn.aarq_timeout / 1000 if conn.aarq_timeout else None,
                idle_timeout=conn.idle_timeout / 1000 if conn.idle_timeout else None,
            )
        )
    return found


def _server_tls_context(
    conn: Connection, ae_title: str, exporter: ExporterDescriptor | None
) -> ssl.SSLContext:
    from dcm_exporter._dicom.tls import make_server_ssl_context

    def prop(name: str) -> str | None:
        return exporter_property(exporter, name) if exporter is not None else None

    need = [v.decode("ascii", "replace") if isinstance(v, bytes) else v
            for v in conn.extra.get("dcmTLSNeedClientAuth", ())]
    return make_server_ssl_context(
        where=f"connection {conn.key} of AE {ae_title}",
        cipher_suites=conn.tls_cipher_suites,
        protocols=conn.tls_protocols,
        cert_file=prop("TLSCertificate"),
        key_file=prop("TLSKey"),
        ca_file=prop("TLSCACertificates"),
        need_client_auth=not (need and need[0].strip().upper() == "FALSE"),
    )
