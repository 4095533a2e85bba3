"""TLS for DICOM associations: an :class:`ssl.SSLContext` from a dcm4che connection's settings, for the
associations we open (``dicom:`` exports, storage commitment, IAN) and for the embedded SCP that receives
storage commitment reports on a TLS connection of our own AE.

dcm4che names cipher suites the IANA / Java way (``TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256``) and protocols
``TLSv1.2`` / ``TLSv1.3``; OpenSSL (and so :mod:`ssl`) wants its own cipher names. The table below maps the
suites that appear in dcm4che configurations; TLS 1.3 suites are always enabled by OpenSSL and need no
mapping.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path

from dcm_exporter.errors import ConfigurationError

__all__ = ["IANA_TO_OPENSSL", "make_server_ssl_context", "make_ssl_context"]

IANA_TO_OPENSSL: dict[str, str] = {
    "TLS_RSA_WITH_NULL_SHA": "NULL-SHA",
    "SSL_RSA_WITH_NULL_SHA": "NULL-SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "SSL_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256": "DHE-RSA-AES128-GCM-SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384": "DHE-RSA-AES256-GCM-SHA384",
}
_TLS13 = frozenset({"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"})
_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


def make_ssl_context(
    *,
    ae_title: str,
    cipher_suites: Sequence[str],
    protocols: Sequence[str],
    ca_file: str | Path | None = None,
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
    verify: bool = True,
) -> ssl.SSLContext:
    """A client :class:`ssl.SSLContext` for a TLS connection to ``ae_title``.

    Args:
        ae_title: the destination, for error messages.
        cipher_suites: ``dicomTLSCipherSuite`` values (IANA names, or OpenSSL names).
        protocols: ``dcmTLSProtocol`` values (``TLSv1.2``, ``TLSv1.3``); empty = OpenSSL's defaults.
        ca_file: PEM file of the CA certificates that sign the peer; ``None`` = the system's trust store.
        cert_file: our certificate chain (PEM), for peers that require client authentication.
        key_file: the private key of ``cert_file`` (``None`` = in ``cert_file``).
        verify: verify the peer's certificate and host name (turn off only for tests).

    Raises:
        ConfigurationError: unknown protocol or cipher suite, or unreadable certificate files.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    _load(context, f"TLS to AE {ae_title}", ca_file, cert_file, key_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    _restrict(context, f"TLS to AE {ae_title}", cipher_suites, protocols)
    return context


def make_server_ssl_context(
    *,
    where: str,
    cipher_suites: Sequence[str],
    protocols: Sequence[str],
    cert_file: str | Path | None,
    key_file: str | Path | None = None,
    ca_file: str | Path | None = None,
    need_client_auth: bool = True,
) -> ssl.SSLContext:
    """A server :class:`ssl.SSLContext` for a listening TLS connection of ours (``where`` names it in errors).

    Args:
        where: e.g. ``connection dicom-tls of AE DCM4CHEE``, for error messages.
        cipher_suites: ``dicomTLSCipherSuite`` values of the connection.
        protocols: its ``dcmTLSProtocol`` values; empty = OpenSSL's defaults.
        cert_file: our certificate chain (PEM): a TLS server cannot do without one.
        key_file: the private key of ``cert_file`` (``None`` = in ``cert_file``).
        ca_file: PEM file of the CAs that sign the peers' certificates; ``None`` = the system's trust store.
        need_client_auth: require a certificate of the peer (``dcmTLSNeedClientAuth``, dcm4che's default).

    Raises:
        ConfigurationError: no certificate, unreadable files, unknown protocol or cipher suite.
    """
    if cert_file is None:
        raise ConfigurationError(f"TLS on {where}: no certificate to serve TLS with (exporter property TLSCertificate)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _load(context, f"TLS on {where}", ca_file, cert_file, key_file)
    context.verify_mode = ssl.CERT_REQUIRED if need_client_auth else ssl.CERT_NONE
    _restrict(context, f"TLS on {where}", cipher_suites, protocols)
    return context


def _load(
    context: ssl.SSLContext, where: str, ca_file: str | Path | None, cert_file: str | Path | None,
    key_file: str | Path | None,
) -> None:
    try:
        if ca_file is not None:
            context.load_verify_locations(cafile=str(ca_file))
        if cert_file is not None:
            context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"{where}: cannot load certificates: {exc}") from exc


def _restrict(context: ssl.SSLContext, where: str, cipher_suites: Sequence[str], protocols: Sequence[str]) -> None:
    """Limit ``context`` to the configured protocols and cipher suites."""
    if protocols:
        try:
            versions = sorted(_VERSIONS[p] for p in protocols)
        except KeyError as exc:
            raise ConfigurationError(
                f"{where}: unknown protocol {exc.args[0]!r} (known: {', '.join(_VERSIONS)})"
            ) from None
        context.minimum_version = versions[0]
        context.maximum_version = versions[-1]
    tls12 = [IANA_TO_OPENSSL.get(s, s) for s in cipher_suites if s not in _TLS13]
    if tls12:
        try:
            context.set_ciphers(":".join(tls12))
        except ssl.SSLError:
            usable = []
            for name in tls12:
                try:
                    context.set_ciphers(name)
                    usable.append(name)
                except ssl.SSLError:
                    pass
            if not usable and not any(s in _TLS13 for s in cipher_suites):
                raise ConfigurationError(
                    f"{where}: none of the cipher suites {', '.join(cipher_suites)} "
                    "is supported by this OpenSSL"
                ) from None
            if usable:
                context.set_ciphers(":".join(usable))
        if not any(s in _TLS13 for s in cipher_suites) and context.maximum_version in (
            ssl.TLSVersion.MAXIMUM_SUPPORTED,
            ssl.TLSVersion.TLSv1_3,
        ):
            # the configured suites are TLS 1.2 ones: TLS 1.3 would ignore them
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            if context.minimum_version > ssl.TLSVersion.TLSv1_2:
                raise ConfigurationError(
                    f"{where}: only TLS 1.3 is allowed but the cipher suites are TLS 1.2 suites"
                )
