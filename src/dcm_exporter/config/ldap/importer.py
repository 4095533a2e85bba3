"""LDIF import into a live LDAP server (like ``ldapadd`` / ``ldapmodify``), and its per-record report."""

from __future__ import annotations

import logging
import os
from typing import Literal, TypeAlias

import attrs

from dcm_exporter.codecs.ldap_mapping import Modification, ModifyEntry, diff_entries
from dcm_exporter.codecs.ldif import LdifChange, LdifEntry, LdifSource, read_ldif
from dcm_exporter.config.ldap.connection import LdapConnection, object_classes
from dcm_exporter.errors import LdapBindError, LdapConnectionError, LdapEntryExistsError, LdapError

__all__ = ["ImportAction", "ImportReport", "ImportResult", "import_ldif"]

_log = logging.getLogger("dcm_exporter.config.ldap")

ImportAction: TypeAlias = Literal["added", "changed", "unchanged", "deleted", "renamed", "rejected"]


@attrs.frozen(kw_only=True)
class ImportResult:
    """What happened to one LDIF record during ``LdapConfigStore.import_ldif``."""

    dn: str
    """The record's DN."""
    line: int
    """The 1-based line of its ``dn:`` line."""
    action: ImportAction
    """``added``, ``changed``, ``unchanged``, ``deleted``, ``renamed`` or ``rejected``."""
    error: LdapError | None = None
    """Why the server rejected it (``rejected`` only)."""
    attributes: tuple[str, ...] = ()
    """The attributes a ``changed`` entry had modified."""

    def __str__(self) -> str:
        text = f"line {self.line}: {self.action} {self.dn}"
        if self.attributes:
            text += f" ({', '.join(self.attributes)})"
        if self.error is not None:
            text += f": {self.error}"
        return text


@attrs.frozen(kw_only=True)
class ImportReport:
    """The per-record outcome of an LDIF import; ``complete`` is false when it stopped at a rejection."""

    filename: str
    results: tuple[ImportResult, ...]
    complete: bool = True
    """False when the import stopped at the first rejected record (``continue_on_error=False``)."""

    def _with(self, action: str) -> tuple[ImportResult, ...]:
        return tuple(r for r in self.results if r.action == action)

    @property
    def added(self) -> tuple[ImportResult, ...]:
        """Records whose entry was added."""
        return self._with("added")

    @property
    def changed(self) -> tuple[ImportResult, ...]:
        """Records that modified an existing entry."""
        return self._with("changed")

    @property
    def unchanged(self) -> tuple[ImportResult, ...]:
        """Content records whose entry already held those values."""
        return self._with("unchanged")

    @property
    def deleted(self) -> tuple[ImportResult, ...]:
        """``changetype: delete`` records carried out."""
        return self._with("deleted")

    @property
    def renamed(self) -> tuple[ImportResult, ...]:
        """``changetype: modrdn`` records carried out."""
        return self._with("renamed")

    @property
    def rejected(self) -> tuple[ImportResult, ...]:
        """Records the server refused (with the error)."""
        return self._with("rejected")

    @property
    def ok(self) -> bool:
        """Whether every record was applied."""
        return self.complete and not self.rejected

    def summary(self) -> str:
        """One line: counts per action."""
        counts = [f"{len(self._with(a))} {a}" for a in ("added", "changed", "unchanged", "deleted", "renamed",
                                                          "rejected")]
        stopped = "" if self.complete else " (stopped at the first rejection)"
        return f"{self.filename}: " + ", ".join(counts) + stopped

    def __str__(self) -> str:
        return "\n".join([self.summary(), *(str(r) for r in self.results)])


def import_ldif(
    connection: LdapConnection,
    source: LdifSource,
    *,
    filename: str | None = None,
    continue_on_error: bool = False,
    update_existing: bool = False,
    allow_file_urls: bool = False,
) -> ImportReport:
    """Import LDIF content or change records, like ``ldapadd`` / ``ldapmodify`` or a directory tool.

    The whole input is parsed first (a syntax error sends nothing). Content records are added; with
    ``update_existing`` an entry that exists already gets the record's attributes (only the differing
    ones are sent; attributes the record does not mention are kept). Change records are carried out as
    written. The server's refusals are reported per record; the import stops at the first one unless
    ``continue_on_error`` (like ``ldapadd -c``). ``:<`` file URL values are read only with
    ``allow_file_urls`` (LDIF from a trusted operator).

    Raises:
        LdifError: malformed LDIF (nothing was sent).
        LdapConnectionError / LdapTimeoutError / LdapBindError: the import could not go on.
    """
    records = read_ldif(source, filename=filename, allow_file_urls=allow_file_urls)
    name = filename or (os.fspath(source) if isinstance(source, os.PathLike) else "<string>")
    results: list[ImportResult] = []
    complete = True
    for rec in records:
        try:
            results.append(_import_one(connection, rec, update_existing))
        except (LdapConnectionError, LdapBindError):
            raise
        except LdapError as exc:
            results.append(ImportResult(dn=rec.dn, line=rec.line, action="rejected", error=exc))
            if not continue_on_error:
                complete = rec is records[-1]
                break
    report = ImportReport(filename=name, results=tuple(results), complete=complete)
    _log.info("%s", report.summary(), extra={"filename": name})
    return report


def _import_one(connection: LdapConnection, rec: LdifEntry | LdifChange, update_existing: bool) -> ImportResult:
    if isinstance(rec, LdifEntry) or rec.changetype == "add":
        try:
            connection.add(rec.dn, rec.attributes)
            return ImportResult(dn=rec.dn, line=rec.line, action="added")
        except LdapEntryExistsError:
            if not (update_existing and isinstance(rec, LdifEntry)):
                raise
        current = connection.entry(rec.dn) or {}
        wanted = {k.lower() for k in rec.attributes}
        ops = diff_entries([(rec.dn, current)], [(rec.dn, rec.attributes)])
        mods = [
            m for op in ops if isinstance(op, ModifyEntry) for m in op.modifications
            if m.attribute.lower() in wanted and not (m.operation == "delete" and m.attribute.lower()
                                                      == "objectclass")
        ]
        if not mods:
            return ImportResult(dn=rec.dn, line=rec.line, action="unchanged")
        connection.modify(rec.dn, mods, object_classes(current))
        return ImportResult(dn=rec.dn, line=rec.line, action="changed",
                            attributes=tuple(m.attribute for m in mods))
    if rec.changetype == "delete":
        connection.delete(rec.dn)
        return ImportResult(dn=rec.dn, line=rec.line, action="deleted")
    if rec.changetype == "modify":
        mods = [Modification(m.op, m.attribute, tuple(m.values)) for m in rec.modifications]
        connection.modify(rec.dn, mods)
        return ImportResult(dn=rec.dn, line=rec.line, action="changed",
                            attributes=tuple(dict.fromkeys(m.attribute for m in mods)))
    assert rec.newrdn is not None  # the LDIF reader requires newrdn for modrdn/moddn
    connection.rename(rec.dn, rec.newrdn, delete_old_rdn=rec.deleteoldrdn, new_superior=rec.newsuperior)
    return ImportResult(dn=rec.dn, line=rec.line, action="renamed")
