"""DIMSE-N associations for the after-export actions (pynetdicom, imported lazily).

Destinations resolve exactly as the ``dicom:`` transport resolves them — host, port, TLS context from
the connection's cipher suites and protocols plus the exporter's ``TLS*`` properties, and the
connection's timeouts — by reusing its :class:`~dcm_exporter.transports._dimse_assoc.Destination`, its
defaults and :func:`~dcm_exporter.transports._dimse_tls.make_ssl_context`. The few N-ACTION, N-CREATE and
N-EVENT-REPORT messages then go through pynetdicom, with ``TCP_NODELAY`` set on every socket.
pynetdicom failures are translated here, in one place, into the transport errors the queue retries.
"""

from __future__ import annotations

import logging
import socket
import ssl
from typing import TYPE_CHECKING, Any

from dcm_exporter.errors import (
    AssociationRejectedError,
    ConfigurationError,
    ConnectionFailedError,
    TransportTimeoutError,
)
from dcm_exporter.transports._dimse_assoc import Destination
from dcm_exporter.transports._dimse_transcode import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN
from dcm_exporter.transports.dicom import destination_of, exporter_property

if TYPE_CHECKING:
    from pynetdicom.association import Association

    from dcm_exporter.models import Configuration, ExporterDescriptor

__all__ = ["associate", "bind_address_of", "resolve_destination", "set_nodelay"]

log = logging.getLogger("dcm_exporter.actions")


def resolve_destination(configuration: Configuration, ae_title: str, exporter: ExporterDescriptor) -> Destination:
    """Resolve a peer AE title to host, port, TLS context and timeouts, like the ``dicom:`` transport.

    Raises:
        UnknownAEError, AENotInstalledError, ConfigurationError: the AE cannot be used.
    """
    remote = configuration.remote_ae(ae_title)
    context: ssl.SSLContext | None = None
    if remote.tls:
        from dcm_exporter.transports._dimse_tls import make_ssl_context

        context = make_ssl_context(
            ae_title=remote.ae_title,
            cipher_suites=remote.tls_cipher_suites,
            protocols=remote.tls_protocols,
            ca_file=exporter_property(exporter, "TLSCACertificates"),
            cert_file=exporter_property(exporter, "TLSCertificate"),
            key_file=exporter_property(exporter, "TLSKey"),
        )
    return destination_of(remote, context)


def bind_address_of(configuration: Configuration, ae_title: str) -> tuple[str, int] | None:
    """Where the embedded SCP of a local AE listens: its first installed listening connection.

    Binds to the connection's ``dcmBindAddress`` when set, else its host name. ``None`` when the AE is
    not configured or has no listening connection (then only same-association reports can arrive).
    """
    try:
        device, ae = configuration.find_ae(ae_title)
    except ConfigurationError:
        return None
    for ref in ae.connection_refs:
        try:
            conn = device.connection(ref)
        except (ConfigurationError, KeyError, LookupError):
            continue
        if conn.is_listening and device.is_connection_installed(conn) and conn.port:
            if conn.is_tls:
                log.warning(
                    "AE %s: TLS connection %s is not served by the embedded storage commitment SCP "
                    "(plain connections only)",
                    ae_title,
                    conn.key if hasattr(conn, "key") else conn.hostname,
                )
                continue
            return (conn.bind_address or conn.hostname, int(conn.port))
    return None


def set_nodelay(event: Any) -> None:
    """pynetdicom ``EVT_CONN_OPEN`` handler: switch Nagle's algorithm off on the new socket."""
    sock = getattr(getattr(event.assoc, "dul", None), "socket", None)
    raw = getattr(sock, "socket", None)
    if isinstance(raw, socket.socket):
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - socket already closed
            pass


def associate(
    destination: Destination,
    calling_ae_title: str,
    abstract_syntax: str,
    *,
    handlers: list[tuple[Any, Any]] | None = None,
) -> Association:
    """Open an association proposing ``abstract_syntax`` (Explicit / Implicit VR Little Endian).

    Raises:
        AssociationRejectedError: A-ASSOCIATE-RJ, or the context was not accepted.
        ConnectionFailedError: connect failed or the peer aborted.
        TransportTimeoutError: no A-ASSOCIATE-AC in time.
    """
    from pynetdicom import AE, evt

    where = f"AE {destination.ae_title} at {destination.host}:{destination.port}"
    _probe(destination, where)
    ae = AE(ae_title=calling_ae_title)
    ae.add_requested_context(abstract_syntax, [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN])
    ae.connection_timeout = destination.connect_timeout
    ae.acse_timeout = destination.request_timeout
    ae.dimse_timeout = destination.response_timeout
    ae.network_timeout = max(destination.response_timeout or 60.0, 60.0)
    tls_args = (destination.ssl_context, destination.host) if destination.ssl_context is not None else None
    assoc = ae.associate(
        destination.host,
        destination.port,
        ae_title=destination.ae_title,
        tls_args=tls_args,
        evt_handlers=[(evt.EVT_CONN_OPEN, set_nodelay), *(handlers or [])],
    )
    if assoc.is_established:
        if not any(str(cx.abstract_syntax) == abstract_syntax for cx in assoc.accepted_contexts):
            assoc.abort()
            raise AssociationRejectedError(
                f"{where} did not accept SOP class {abstract_syntax} from {calling_ae_title}",
                reason="abstract syntax not accepted",
                destination=destination.ae_title,
            )
        return assoc
    if assoc.is_rejected:
        rsp = assoc.acceptor.primitive
        reason = "rejected"
        if rsp is not None:
            reason = f"result {rsp.result_str}, source {rsp.source_str}, reason {rsp.reason_str}"
        raise AssociationRejectedError(
            f"Association from {calling_ae_title} to {where} rejected: {reason}",
            reason=reason,
            destination=destination.ae_title,
        )
    if assoc.is_aborted:
        raise ConnectionFailedError(
            f"Association from {calling_ae_title} to {where} aborted by the peer",
            destination=destination.ae_title,
        )
    raise TransportTimeoutError(
        f"No answer to the association request from {calling_ae_title} to {where} within "
        f"{destination.request_timeout} s",
        destination=destination.ae_title,
    )


def _probe(destination: Destination, where: str) -> None:
    """Connect once before pynetdicom does: a refused or timed-out connect gets a precise error here
    (pynetdicom 3.0.4 reports it as an abort and leaks the socket)."""
    try:
        with socket.create_connection((destination.host, destination.port), timeout=destination.connect_timeout):
            pass
    except TimeoutError as exc:
        raise TransportTimeoutError(
            f"Timeout connecting to {where} after {destination.connect_timeout} s", destination=destination.ae_title
        ) from exc
    except OSError as exc:
        raise ConnectionFailedError(
            f"Cannot connect to {where}: {exc.strerror or exc}", destination=destination.ae_title
        ) from exc
