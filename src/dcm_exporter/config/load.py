"""One call to read a configuration from wherever it lives: :func:`load_configuration`.

>>> import dcm_exporter
>>> configuration = dcm_exporter.load_configuration(
...     "dn: dicomDeviceName=storescp,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org\\n"
...     "objectClass: dicomDevice\\n"
...     "dicomDeviceName: storescp\\n"
...     "dicomInstalled: TRUE\\n")
>>> [d.device_name for d in configuration.devices]
['storescp']

This module sits above the codecs and the LDAP store; it imports ldap3 (through
:mod:`dcm_exporter.config.ldap`) only when it is given an ``ldap://`` or ``ldaps://`` URL.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dcm_exporter._secrets import mask_url
from dcm_exporter.codecs import device_json, ldif
from dcm_exporter.dn import DEFAULT_BASE_DN
from dcm_exporter.errors import CodecError, ConfigurationError
from dcm_exporter.models import Configuration

__all__ = ["load_configuration"]

_LDAP_SCHEMES = ("ldap://", "ldaps://")


def load_configuration(
    source: str | bytes | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    bind_dn: str | None = None,
    password: str | None = None,
    base_dn: str | None = None,
    ca_file: str | os.PathLike[str] | None = None,
    start_tls: bool = False,
    timeout: float = 30.0,
    allow_file_urls: bool = False,
) -> Configuration:
    """Read a configuration from an LDIF or device JSON file, LDIF (or JSON) text, or an LDAP server.

    ``source`` is one of:

    - an ``ldap://`` or ``ldaps://`` URL: the whole ``cn=DICOM Configuration`` tree is read with one paged
      search (:meth:`dcm_exporter.config.ldap.LdapConfigStore.load`) and the connection closed again. The
      bind DN and password may be in the URL (``ldap://cn=admin,dc=dcm4che,dc=org:secret@host:389``,
      percent-encoded where needed) or given as ``bind_dn`` / ``password``; the base DN may be its path
      (``ldap://host/dc=example,dc=org``). No credentials: an anonymous bind.
    - a path (``str`` without a line break, or :class:`os.PathLike`): device JSON when it ends in ``.json``,
      LDIF otherwise; a list of LDIF paths is read as one file (e.g. ``default-config.ldif`` then
      ``sample-export.ldif``).
    - text (a ``str`` with a line break, or ``bytes``): device JSON when it starts with ``{`` or ``[``,
      LDIF otherwise.

    Args:
        base_dn: the suffix below ``cn=DICOM Configuration``; by default the one the devices of an LDIF
            source are found under, else ``dc=dcm4che,dc=org``.
        ca_file: PEM file of the CA(s) to trust for ``ldaps://`` or ``start_tls`` (default: the system store).
        start_tls: upgrade an ``ldap://`` connection with StartTLS before binding.
        timeout: seconds to wait for each answer of an LDAP server.
        allow_file_urls: let ``attr:< file:...`` values of LDIF read files (regular files, 16 MiB each at
            most); only for LDIF the operator wrote (see :func:`dcm_exporter.codecs.ldif.iter_ldif`).

    Raises:
        LdifError / JsonCodecError: malformed text (LDIF: with file and line; JSON: with its JSON path).
        ConfigurationError: a missing file, a device JSON file that cannot be read (naming the file and the
            JSON path), an entry that cannot be a valid model, or a bad URL.
        LdapError: the LDAP server cannot be reached, refuses the bind, or lacks the configuration tree.
    """
    if isinstance(source, str) and source.lstrip().lower().startswith(_LDAP_SCHEMES) and "\n" not in source:
        return _from_ldap(source.strip(), bind_dn=bind_dn, password=password, base_dn=base_dn,
                          ca_file=ca_file, start_tls=start_tls, timeout=timeout)
    if bind_dn is not None or password is not None or ca_file is not None or start_tls:
        raise ConfigurationError("bind_dn, password, ca_file and start_tls apply to an ldap:// or ldaps:// URL only")
    if isinstance(source, list | tuple):
        return ldif.load(source, base_dn=base_dn, allow_file_urls=allow_file_urls)
    if isinstance(source, bytes) or (isinstance(source, str) and "\n" in source):
        text = source.decode("utf-8", errors="replace") if isinstance(source, bytes) else source
        if text.lstrip().startswith(("{", "[")):
            return device_json.loads(source, base_dn=base_dn or DEFAULT_BASE_DN)
        return ldif.load(source, base_dn=base_dn, allow_file_urls=allow_file_urls)
    path = Path(os.fspath(source))  # type: ignore[arg-type]
    if path.is_dir():
        raise ConfigurationError(f"configuration file {path} is a folder: give an LDIF or JSON file")
    if not path.is_file():
        raise ConfigurationError(f"configuration file {path} does not exist")
    if path.suffix.lower() == ".json":
        try:
            return device_json.load(path, base_dn=base_dn or DEFAULT_BASE_DN)
        except (CodecError, ConfigurationError, UnicodeDecodeError) as exc:
            # the JSON codec does not know the file: name it (LDIF errors say file:line already)
            raise ConfigurationError(f"{path}: {exc}") from exc
    return ldif.load(path, base_dn=base_dn, allow_file_urls=allow_file_urls)


def _from_ldap(
    url: str,
    *,
    bind_dn: str | None,
    password: str | None,
    base_dn: str | None,
    ca_file: str | os.PathLike[str] | None,
    start_tls: bool,
    timeout: float,
) -> Configuration:
    parts = urlsplit(url)
    shown = mask_url(url)
    if parts.query or parts.fragment:
        raise ConfigurationError(f"LDAP URL {shown}: give scheme, credentials, host, port and base DN only")
    url_user = unquote(parts.username) if parts.username else None
    url_password = unquote(parts.password) if parts.password is not None else None
    url_base = unquote(parts.path.lstrip("/")) or None
    for what, in_url, given in (("bind DN", url_user, bind_dn), ("password", url_password, password),
                                ("base DN", url_base, base_dn)):
        if in_url is not None and given is not None and in_url != given:
            raise ConfigurationError(f"LDAP URL {shown} and the arguments give two different {what}s")
    host = parts.netloc.rpartition("@")[2]
    from dcm_exporter.config.ldap import LdapConfigStore  # ldap3 only when an LDAP server is asked for

    store = LdapConfigStore(
        f"{parts.scheme}://{host}",
        bind_dn=bind_dn if bind_dn is not None else url_user,
        password=password if password is not None else url_password,
        base_dn=base_dn or url_base or DEFAULT_BASE_DN,
        start_tls=start_tls,
        ca_file=ca_file,
        timeout=timeout,
    )
    try:
        return store.load()
    finally:
        store.close()
