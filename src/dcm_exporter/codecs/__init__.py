"""Codecs: configuration text <-> models, as functions at the edge.

- :mod:`dcm_exporter.codecs.ldif` reads and writes LDIF (RFC 2849) records (``read_ldif``, ``iter_ldif``,
  ``write_ldif``) and whole configurations (``ldif.load``, ``ldif.dumps``).
- :mod:`dcm_exporter.codecs.device_json` reads and writes dcm4che device JSON (``device_json.loads``,
  ``device_json.load``, ``device_json.dumps``).
- :mod:`dcm_exporter.codecs.ldap_mapping` maps configuration models to LDAP entries in dcm4che's DN layout.

To read a configuration from wherever it lives (a file, LDIF text or an LDAP server), use
:func:`dcm_exporter.load_configuration`.

Every decoding problem is raised as a :class:`dcm_exporter.errors.CodecError` subclass that says what was
wrong and where. Importing this package also sets the deprecated ``Configuration.from_ldif`` / ``to_ldif`` /
``from_json`` / ``to_json`` aliases (see :mod:`dcm_exporter.codecs._aliases`).
"""

from __future__ import annotations

from dcm_exporter.codecs import _aliases

_aliases.install()
