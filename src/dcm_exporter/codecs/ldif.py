"""Read and write LDIF, the LDAP Data Interchange Format of RFC 2849.

dcm4che ships its default archive configuration as LDIF (``default-config.ldif``); this module turns such text
into records and back, without an LDAP server and without any third-party dependency.

Reading::

    >>> from dcm_exporter.codecs.ldif import read_ldif
    >>> [entry] = read_ldif("dn: dicomDeviceName=storescp,cn=Devices\\n"
    ...                     "objectClass: dicomDevice\\n"
    ...                     "dicomDeviceName: storescp\\n")
    >>> entry.dn, entry.first("DICOMDEVICENAME"), entry.line
    ('dicomDeviceName=storescp,cn=Devices', 'storescp', 1)

A whole configuration: :func:`load` (a file, LDIF text or several files read as one) and :func:`dumps`::

    >>> from dcm_exporter.codecs import ldif
    >>> configuration = ldif.load("dn: dicomDeviceName=storescp,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org\\n"
    ...                           "objectClass: dicomDevice\\n"
    ...                           "dicomDeviceName: storescp\\n"
    ...                           "dicomInstalled: TRUE\\n")
    >>> [d.device_name for d in configuration.devices], ldif.dumps(configuration).count("dn: ")
    (['storescp'], 1)

Writing records::

    >>> from dcm_exporter.codecs.ldif import LdifEntry, write_ldif
    >>> print(write_ldif([LdifEntry(dn="cn=x", attributes={"description": [" leading space"]})]), end="")
    version: 1
    <BLANKLINE>
    dn: cn=x
    description:: IGxlYWRpbmcgc3BhY2U=

What the reader accepts (RFC 2849): an optional ``version: 1`` line, ``#`` comments (folded comments too),
lines folded with a leading space (LF or CRLF line ends), ``::`` base64 values, ``:<`` ``file:`` URL values,
attribute options (``userCertificate;binary``), ``dn::`` base64 DNs, and change records (``add``, ``delete``,
``modify`` with ``-`` separators, ``modrdn``/``moddn``) with ``control:`` lines. A file holds either content
records or change records, never both. Everything else is refused with an
:class:`~dcm_exporter.errors.LdifError` that names the file, the 1-based line and what was expected.

``:<`` file URLs read files of the machine, so they are off unless the caller passes
``allow_file_urls=True`` (the CLI and the web reload do, for the operator's own configuration files). Even
then only regular files are read (not ``/dev/zero``, FIFOs, sockets or folders), at most
``max_url_bytes`` (:data:`MAX_URL_BYTES`, 16 MiB) each, and with an explicit ``base_dir`` only files
inside that folder (after following symbolic links: no ``../`` escape).

Values are ``str`` when they are valid UTF-8 and ``bytes`` otherwise (always ``bytes`` for attribute
descriptions with the ``;binary`` option). Attribute names keep the spelling of their first occurrence in an
entry; later lines that differ only in letter case add to the same attribute (LDAP attribute descriptions are
case-insensitive).
"""

from __future__ import annotations

import binascii
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import IO, Any, Literal, TypeAlias
from urllib.parse import unquote, urlsplit

import attrs

from dcm_exporter.codecs.ldap_mapping.assembly import configuration_from_entries, configuration_to_entries
from dcm_exporter.dn import normalize_dn
from dcm_exporter.errors import LdifError
from dcm_exporter.models import Configuration, SourceLocation

__all__ = [
    "CHANGE_TYPES",
    "MODIFY_OPERATIONS",
    "Control",
    "LdifChange",
    "LdifEntry",
    "LdifRecord",
    "MAX_URL_BYTES",
    "LdifSource",
    "Modification",
    "Value",
    "dumps",
    "format_entry",
    "iter_ldif",
    "load",
    "read_ldif",
    "update",
    "write_ldif",
]

Value: TypeAlias = str | bytes
"""An attribute value: ``str`` for UTF-8 text, ``bytes`` for anything else."""

ChangeType: TypeAlias = Literal["add", "delete", "modify", "modrdn", "moddn"]
ModifyOperation: TypeAlias = Literal["add", "delete", "replace"]

CHANGE_TYPES: tuple[str, ...] = ("add", "delete", "modify", "modrdn", "moddn")
"""The ``changetype:`` values of RFC 2849 (``moddn`` is a synonym of ``modrdn``)."""

MODIFY_OPERATIONS: tuple[str, ...] = ("add", "delete", "replace")
"""The operations of a ``changetype: modify`` record."""

# AttributeDescription = AttributeType *(";" option); AttributeType = ldap-oid / ALPHA *(ALPHA / DIGIT / "-")
_ATTR_TYPE = r"(?:[A-Za-z][A-Za-z0-9-]*+|[0-9]+(?:\.[0-9]+)*+)"
_ATTR_DESC_RE = re.compile(rf"{_ATTR_TYPE}(?:;[A-Za-z0-9-]+)*\Z")
# RFC 4514 distinguished names: special characters inside a value are escaped with a backslash.
# Possessive quantifiers keep the match linear (no backtracking into a value).
_DN_VALUE = r'(?:[^,+"\\;<>\x00]++|\\(?:[ "#+,;<=>\\]|[0-9A-Fa-f]{2}))*+'
_RDN = rf"{_ATTR_TYPE} *={_DN_VALUE}(?:\+ *{_ATTR_TYPE} *={_DN_VALUE})*+"
_RDN_RE = re.compile(rf"{_RDN}\Z")
_FOLD_OR_COMMENT_RE = re.compile("\n[ #]")
_RDN_HEAD_RE = re.compile(rf"{_RDN}(?:(,) *|\Z)")
_CONTROL_RE = re.compile(r"([0-9]+(?:\.[0-9]+)*)(?: +([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]))? *(?=:|\Z)")

_LineOf: TypeAlias = Callable[[int], int]

LdifSource: TypeAlias = "str | bytes | os.PathLike[str] | IO[str] | IO[bytes]"
"""What :func:`iter_ldif` reads: LDIF text, encoded bytes, a path, or an open text or binary file."""


def _no_values() -> dict[str, list[Value]]:
    return {}


class _AttributeAccess:
    """Case-insensitive access to ``attributes``, shared by entries and add change records."""

    __slots__ = ()
    attributes: dict[str, list[Value]]

    def get(self, name: str) -> list[Value]:
        """Return the values of attribute ``name`` (case-insensitive), or an empty list.

        Args:
            name: an attribute description, e.g. ``"dicomAETitle"`` or ``"userCertificate;binary"``.

        Returns:
            A new list with the values in file order.
        """
        values = self.attributes.get(name)
        if values is not None:
            return list(values)
        lname = name.lower()
        return [v for key, vs in self.attributes.items() if key.lower() == lname for v in vs]

    def first(self, name: str, default: Value | None = None) -> Value | None:
        """Return the first value of attribute ``name`` (case-insensitive), or ``default`` if it has none."""
        values = self.get(name)
        return values[0] if values else default

    def has_object_class(self, object_class: str) -> bool:
        """Whether ``objectClass`` holds ``object_class`` (compared case-insensitively)."""
        wanted = object_class.lower()
        return any(isinstance(v, str) and v.lower() == wanted for v in self.get("objectClass"))


@attrs.frozen(kw_only=True)
class LdifEntry(_AttributeAccess):
    """A content record: one LDAP entry.

    ``line`` and ``filename`` say where the entry was read from; they take no part in equality, so an entry
    read back from written LDIF equals the original.

    Attributes:
        dn: the distinguished name, e.g. ``"dicomDeviceName=storescp,cn=Devices,..."``.
        attributes: attribute description (as written, options included) → values, in file order.
        line: the 1-based line number of the ``dn:`` line (0 when not read from LDIF).
        filename: the file the entry was read from, if any.
    """

    dn: str
    attributes: dict[str, list[Value]] = attrs.field(factory=_no_values)
    line: int = attrs.field(default=0, eq=False)
    filename: str | None = attrs.field(default=None, eq=False)


@attrs.frozen(kw_only=True)
class Modification:
    """One ``add:`` / ``delete:`` / ``replace:`` block of a ``changetype: modify`` record.

    Attributes:
        op: ``"add"``, ``"delete"`` or ``"replace"``.
        attribute: the attribute description the block modifies.
        values: the values (may be empty for ``delete`` and ``replace``).
    """

    op: ModifyOperation
    attribute: str
    values: list[Value] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class Control:
    """An LDAP control given on a ``control:`` line of a change record.

    Attributes:
        oid: the control type, a dotted OID.
        critical: the criticality flag.
        value: the control value, if any.
    """

    oid: str
    critical: bool = False
    value: Value | None = None


@attrs.frozen(kw_only=True)
class LdifChange(_AttributeAccess):
    """A change record (``changetype: add | delete | modify | modrdn | moddn``).

    Attributes:
        dn: the DN of the entry to change.
        changetype: one of :data:`CHANGE_TYPES`.
        attributes: the attributes of the new entry (``add`` only).
        modifications: the modification blocks (``modify`` only).
        newrdn: the new RDN (``modrdn``/``moddn`` only).
        deleteoldrdn: whether the old RDN values are removed (``modrdn``/``moddn``).
        newsuperior: the DN of the new parent, if the entry moves (``modrdn``/``moddn``).
        controls: the ``control:`` lines of the record.
        line: the 1-based line number of the ``dn:`` line (0 when not read from LDIF); not part of equality.
        filename: the file the record was read from, if any; not part of equality.
    """

    dn: str
    changetype: ChangeType
    attributes: dict[str, list[Value]] = attrs.field(factory=_no_values)
    modifications: list[Modification] = attrs.field(factory=list)
    newrdn: str | None = None
    deleteoldrdn: bool = False
    newsuperior: str | None = None
    controls: list[Control] = attrs.field(factory=list)
    line: int = attrs.field(default=0, eq=False)
    filename: str | None = attrs.field(default=None, eq=False)


LdifRecord: TypeAlias = LdifEntry | LdifChange
"""A record of an LDIF file."""


# --- reading -------------------------------------------------------------------------------------


#: Default cap on the size of one ``:<`` file URL value.
MAX_URL_BYTES = 16 * 1024 * 1024


def iter_ldif(
    source: LdifSource,
    *,
    filename: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    allow_file_urls: bool = False,
    max_url_bytes: int = MAX_URL_BYTES,
) -> Iterator[LdifRecord]:
    """Iterate over the records of LDIF (RFC 2849) text.

    The whole input is read at once (so a missing file fails here, not on first ``next()``); records are then
    parsed one by one as the iterator advances.

    Args:
        source: LDIF text (``str``), UTF-8 encoded ``bytes``, a path (``pathlib.Path`` or any
            ``os.PathLike``), or an open text or binary file.
        filename: the name used in error messages and in each record's ``filename``; defaults to the path or
            the file object's ``name``.
        base_dir: the folder relative ``:< file:`` URLs are resolved against; defaults to the folder of the
            LDIF file, or the current directory for text without a file name. When given, every URL must
            name a file inside it.
        allow_file_urls: read ``:<`` file URL values at all (off: they are refused with an error); only
            for LDIF from a trusted operator.
        max_url_bytes: the largest file one URL value may name.

    Yields:
        An :class:`LdifEntry` per content record, or an :class:`LdifChange` per change record.

    Raises:
        LdifError: the input is not valid LDIF or cannot be read; the message names file and line.
        TypeError: ``source`` is of an unsupported type.
    """
    text, name, folder = _load(source, filename, base_dir)
    reader = _Reader(name, folder)
    reader.allow_file_urls = allow_file_urls
    reader.max_url_bytes = max_url_bytes
    reader.confine = Path(base_dir) if base_dir is not None else None
    return reader.records(text)


def read_ldif(
    source: LdifSource,
    *,
    filename: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    allow_file_urls: bool = False,
    max_url_bytes: int = MAX_URL_BYTES,
) -> list[LdifRecord]:
    """Read all records of LDIF text, a path or a file object; see :func:`iter_ldif`.

    Raises:
        LdifError: the input is not valid LDIF or cannot be read; the message names file and line.
    """
    return list(
        iter_ldif(
            source,
            filename=filename,
            base_dir=base_dir,
            allow_file_urls=allow_file_urls,
            max_url_bytes=max_url_bytes,
        )
    )


def _load(
    source: LdifSource, filename: str | None, base_dir: str | os.PathLike[str] | None
) -> tuple[str, str | None, Path | None]:
    folder = Path(base_dir) if base_dir is not None else None
    if isinstance(source, str):
        text = source
    elif isinstance(source, bytes | bytearray | memoryview):
        text = _decode(bytes(source), filename)
    elif isinstance(source, os.PathLike):
        path = Path(source)
        filename = filename or str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise LdifError(f"cannot read LDIF file: {exc.strerror or exc}", filename=filename) from exc
        text = _decode(data, filename)
        folder = folder or path.parent
    elif hasattr(source, "read"):
        name = getattr(source, "name", None)
        if isinstance(name, str) and not (name.startswith("<") and name.endswith(">")):
            filename = filename or name
            folder = folder or Path(name).parent
        try:
            data_or_text = source.read()
        except UnicodeDecodeError as exc:
            raise LdifError(f"the file is not valid UTF-8 text ({exc.reason})", filename=filename) from exc
        except OSError as exc:
            raise LdifError(f"cannot read LDIF file: {exc.strerror or exc}", filename=filename) from exc
        if isinstance(data_or_text, str):
            text = data_or_text
        elif isinstance(data_or_text, bytes):
            text = _decode(data_or_text, filename)
        else:
            raise TypeError(
                f"the file object's read() returned {type(data_or_text).__name__}, not str or bytes"
            )
    else:
        raise TypeError(
            f"LDIF source must be text, bytes, a path or a file object, not {type(source).__name__}"
        )
    if folder is None and filename is not None:
        folder = Path(filename).parent
    if text[:1] == "\ufeff":
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        pos = text.find("\r")
        if pos >= 0:
            raise LdifError(
                "stray carriage return (CR not followed by LF); lines must end with LF or CRLF",
                filename=filename,
                line=text.count("\n", 0, pos) + 1,
            )
    return text.rstrip("\n"), filename, folder


def _decode(data: bytes, filename: str | None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LdifError(
            f"byte 0x{data[exc.start]:02x} is not valid UTF-8; non-ASCII values must be UTF-8 "
            "or base64-encoded with '::'",
            filename=filename,
            line=data.count(b"\n", 0, exc.start) + 1,
        ) from exc


def _as_text(data: bytes) -> Value:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


class _Reader:
    """The parser state of one LDIF input: its name, the URL base folder and the names already validated."""

    def __init__(self, filename: str | None, base_dir: Path | None) -> None:
        self.filename = filename
        self.base_dir = base_dir
        self.known_names: set[str] = set()
        self.spellings: dict[str, str] = {}  # lower-case name -> first spelling seen
        self.case_variants = False  # whether two known names differ only in letter case
        self.valid_dns: set[str] = set()
        self.allow_file_urls = False
        self.max_url_bytes = MAX_URL_BYTES
        self.confine: Path | None = None

    def error(self, message: str, line: int | None) -> LdifError:
        return LdifError(message, filename=self.filename, line=line)

    # -- records ----------------------------------------------------------------------------------

    def records(self, text: str) -> Iterator[LdifRecord]:
        first_kind: tuple[str, int] | None = None
        at_start = True
        lineno = 1
        # without folded lines and comments anywhere, every record is split into lines directly
        simple = bool(text) and text[0] != " " and text[0] != "#" and _FOLD_OR_COMMENT_RE.search(text) is None
        for chunk in text.split("\n\n"):
            start = lineno
            lineno += chunk.count("\n") + 2
            if not chunk:
                continue
            if chunk[0] == "\n":
                stripped = chunk.lstrip("\n")
                start += len(chunk) - len(stripped)
                chunk = stripped
            numbers: _Numbers
            if simple:
                lines = chunk.split("\n")
                numbers = None
            elif chunk[0] == " " or chunk[0] == "#" or "\n#" in chunk:
                lines, numbers = self.unfold(chunk, start)
                if not lines:
                    continue
                start = numbers[0]
            elif "\n " in chunk:
                # folded lines but no comments: unfold at C speed, find line numbers only for an error
                lines = chunk.replace("\n ", "").split("\n")
                numbers = _LazyNumbers(self, chunk, start)
            else:
                lines = chunk.split("\n")
                numbers = None
            first = lines[0]
            if at_start:
                at_start = False
                if first[:8].lower() == "version:":
                    self.version(first, start)
                    if len(lines) == 1:
                        continue
                    lines = lines[1:]
                    if numbers is not None:
                        numbers = _as_list(numbers)[1:]
                    start = numbers[0] if numbers else start + 1
                    first = lines[0]
            record = self.record(lines, start, numbers)
            kind = "content" if type(record) is LdifEntry else "change"
            if first_kind is None:
                first_kind = (kind, start)
            elif first_kind[0] != kind:
                raise self.error(
                    f"this {kind} record follows a {first_kind[0]} record (line {first_kind[1]}); an LDIF "
                    "file holds either content records or change records, not both (RFC 2849)",
                    start,
                )
            yield record

    def unfold(self, chunk: str, start: int) -> tuple[list[str], list[int]]:
        """Join folded lines and drop comments; return the logical lines and their first line numbers."""
        texts: list[str] = []
        numbers: list[int] = []
        parts: list[str] | None = None
        in_comment = False
        for offset, line in enumerate(chunk.split("\n")):
            head = line[:1]
            if head == " ":
                if in_comment:
                    continue
                if parts is None:
                    raise self.error(
                        "continuation line (starting with a space) with no line before it to continue; "
                        "a line between records must be empty",
                        start + offset,
                    )
                parts.append(line[1:])
                continue
            if parts is not None:
                texts.append(parts[0] if len(parts) == 1 else "".join(parts))
                parts = None
            if head == "#":
                in_comment = True
                continue
            in_comment = False
            parts = [line]
            numbers.append(start + offset)
        if parts is not None:
            texts.append(parts[0] if len(parts) == 1 else "".join(parts))
        return texts, numbers

    def version(self, line: str, lineno: int) -> None:
        number = line[8:].strip(" ")
        if not (number.isascii() and number.isdigit()):
            raise self.error(f"expected 'version: 1', found {line!r}", lineno)
        if int(number) != 1:
            raise self.error(
                f"unsupported LDIF version {number}; only version 1 (RFC 2849) is supported", lineno
            )

    def record(self, lines: list[str], start: int, numbers: _Numbers) -> LdifRecord:
        first = lines[0]
        if first[:3] != "dn:" and first[:3].lower() != "dn:":
            if first[:8].lower() == "version:":
                raise self.error("a 'version:' line is only allowed as the first line of the file", start)
            hint = ""
            if len(lines) == 1 and ":" not in first and numbers is None and start == 1:
                hint = " (pass a pathlib.Path to read a file; a str is LDIF text)"
            raise self.error(f"expected 'dn:' to start a record, found {_show(first)}{hint}", start)
        if first[3:4] == " " and first[4:5] not in (" ", ":", "<"):
            dn = first[4:]
            if not self.dn_ok(dn):
                raise self.error(
                    f"invalid distinguished name {dn!r}: expected RFC 4514 'type=value,...'", start
                )
        else:
            dn = self.dn_value(first[3:], "dn", start)
        if len(lines) > 1:
            second = lines[1]
            if second[:1] in ("c", "C") and (
                second[:11].lower() == "changetype:" or second[:8].lower() == "control:"
            ):
                return self.change(lines, start, numbers, dn)
        attributes = self.attributes(lines, 1, start, numbers)
        if not attributes:
            raise self.error(
                f"entry {dn!r} has no attributes; expected 'attribute: value' lines after 'dn:'", start
            )
        return LdifEntry(dn=dn, attributes=attributes, line=start, filename=self.filename)

    def attributes(
        self, lines: list[str], begin: int, start: int, numbers: _Numbers
    ) -> dict[str, list[Value]]:
        """Parse the ``attrval-spec`` lines ``lines[begin:]`` into an ordered dict (the reader's hot loop)."""
        result: dict[str, list[Value]] = {}
        known = self.known_names
        value: Value
        for index, line in enumerate(islice(lines, begin, None), begin):
            # fast path: "name: value" with a name already validated
            name, sep, value = line.partition(": ")
            if sep and name in known:
                if value[:1] == " ":
                    value = value.lstrip(" ")
            else:
                # the position comes with the line: looking it up (list.index) made new names and
                # '::' values quadratic
                name, value = self.attribute_line(line, numbers[index] if numbers else start + index)
            values = result.get(name)
            if values is None:
                result[name] = [value]
            else:
                values.append(value)
        if self.case_variants and len(set(map(str.lower, result))) != len(result):
            return _merge_case(result)
        return result

    def attribute_line(self, line: str, lineno: int) -> tuple[str, Value]:
        """Parse one ``attrval-spec`` line the slow way: check the name, decode ``::`` and ``:<`` values."""
        name, sep, rest = line.partition(":")
        if not sep:
            if line.strip(" ") == "-":
                raise self.error(
                    "unexpected '-' line: '-' only ends a modification in a 'changetype: modify' record",
                    lineno,
                )
            raise self.error(f"expected 'attribute: value', found {_show(line)} (no ':')", lineno)
        if name not in self.known_names:
            if name.lower() == "dn":
                raise self.error(
                    "a second 'dn:' line in one record; records must be separated by a blank line", lineno
                )
            if _ATTR_DESC_RE.match(name) is None:
                raise self.error(
                    f"invalid attribute description {name!r}: expected a name (letters, digits, '-') or an "
                    "OID, optionally followed by ';option'",
                    lineno,
                )
            lname = name.lower()
            if self.spellings.setdefault(lname, name) != name:
                self.case_variants = True
            if ";binary" in lname:
                # RFC 4522: values of the binary option are always bytes; such names stay on this slow path
                value = self.value(rest, name, lineno)
                return name, value.encode("utf-8") if isinstance(value, str) else value
            self.known_names.add(name)
        return name, self.value(rest, name, lineno)

    # -- values -----------------------------------------------------------------------------------

    def value(self, rest: str, what: str, lineno: int) -> Value:
        """Decode a value-spec: ``rest`` is everything after the first colon of the line."""
        head = rest[:1]
        if head == ":" or head == "<":
            return self.special_value(rest, what, lineno)
        return rest.lstrip(" ")

    def special_value(self, rest: str, what: str, lineno: int) -> Value:
        if rest[0] == ":":
            data = self.base64(rest[1:], what, lineno)
        else:
            data = self.read_url(rest[1:].strip(" "), what, lineno)
        return data if ";binary" in what.lower() else _as_text(data)

    def base64(self, text: str, what: str, lineno: int) -> bytes:
        text = text.strip(" ")
        try:
            return binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise self.error(f"invalid base64 value of {what!r} after '::': {exc}", lineno) from exc

    def read_url(self, url: str, what: str, lineno: int) -> bytes:
        if not url:
            raise self.error(f"expected a file: URL after ':<' in {what!r}", lineno)
        parts = urlsplit(url)
        if parts.scheme.lower() != "file":
            scheme = f"{parts.scheme}:" if parts.scheme else "no scheme"
            raise self.error(
                f"unsupported URL {url!r} for {what!r} ({scheme}); only file: URLs are read "
                "(file:relative/path or file:///absolute/path)",
                lineno,
            )
        if parts.netloc not in ("", "localhost"):
            raise self.error(
                f"file URL {url!r} for {what!r} names the host {parts.netloc!r}; use file:relative/path or "
                "file:///absolute/path",
                lineno,
            )
        path = Path(unquote(parts.path))
        if not parts.path:
            raise self.error(f"file URL {url!r} for {what!r} has no path", lineno)
        if not self.allow_file_urls:
            raise self.error(
                f"file URL {url!r} for {what!r} is not read: ':<' values are off unless the caller allows "
                "them (allow_file_urls=True, for LDIF from a trusted operator)",
                lineno,
            )
        if not path.is_absolute():
            path = (self.base_dir or Path.cwd()) / path
        return self.read_file(path, url, what, lineno)

    def read_file(self, path: Path, url: str, what: str, lineno: int) -> bytes:
        """A URL value's bytes: a regular file, not too large, inside the base folder when one was given."""

        def refuse(why: str, exc: BaseException | None = None) -> LdifError:
            error = self.error(f"cannot read the value of {what!r} from {url!r} ({path}): {why}", lineno)
            error.__cause__ = exc
            return error

        if self.confine is not None:
            try:
                real, root = path.resolve(), self.confine.resolve()
            except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop
                raise refuse(str(exc), exc) from exc
            if not real.is_relative_to(root):
                raise refuse(f"it is outside the base folder {root}")
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise refuse(exc.strerror or str(exc), exc) from exc
        try:
            info = os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            raise refuse(exc.strerror or str(exc), exc) from exc
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise refuse("not a regular file (a device, FIFO, socket or folder)")
        with os.fdopen(fd, "rb") as file:
            if info.st_size > self.max_url_bytes:
                raise refuse(f"{info.st_size} bytes, more than the limit of {self.max_url_bytes}")
            try:
                data = file.read(self.max_url_bytes + 1)
            except OSError as exc:
                raise refuse(exc.strerror or str(exc), exc) from exc
        if len(data) > self.max_url_bytes:  # it grew while being read
            raise refuse(f"more than the limit of {self.max_url_bytes} bytes")
        return data

    def dn_value(self, rest: str, what: str, lineno: int, *, rdn: bool = False) -> str:
        """Decode the value of a ``dn:``, ``newrdn:`` or ``newsuperior:`` line (plain or base64)."""
        head = rest[:1]
        if head == ":":
            data = self.base64(rest[1:], what, lineno)
            try:
                value = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self.error(f"the base64 value of {what!r} is not UTF-8 text", lineno) from exc
        elif head == "<":
            raise self.error(f"a URL (':<') is not allowed for {what!r}; use '{what}:' or '{what}::'", lineno)
        else:
            value = rest.lstrip(" ")
        if (_RDN_RE.match(value) is None) if rdn else not self.dn_ok(value):
            kind = "relative distinguished name" if rdn else "distinguished name"
            raise self.error(
                f"invalid {kind} {value!r} in {what!r}: expected RFC 4514 'type=value,...'", lineno
            )
        return value

    def dn_ok(self, dn: str) -> bool:
        """Whether ``dn`` is an RFC 4514 DN; parents already seen are not checked again."""
        return _dn_ok(dn, self.valid_dns)

    # -- change records ---------------------------------------------------------------------------

    def change(self, lines: list[str], start: int, numbers: _Numbers, dn: str) -> LdifChange:
        def at(index: int) -> int:
            if index >= len(lines):
                index = len(lines) - 1
            return numbers[index] if numbers else start + index

        count = len(lines)
        index = 1
        controls: list[Control] = []
        while index < count and lines[index][:8].lower() == "control:":
            controls.append(self.control(lines[index], at(index)))
            index += 1
        if index >= count or lines[index][:11].lower() != "changetype:":
            found = _show(lines[index]) if index < count else "the end of the record"
            raise self.error(f"expected 'changetype:' after the 'control:' lines, found {found}", at(index))
        changetype = lines[index][11:].strip(" ").lower()
        ct_line = at(index)
        index += 1
        common = {"dn": dn, "controls": controls, "line": start, "filename": self.filename}
        if changetype == "add":
            attributes = self.attributes(lines, index, start, numbers)
            if not attributes:
                raise self.error(
                    "a 'changetype: add' record needs at least one 'attribute: value' line", ct_line
                )
            return LdifChange(changetype="add", attributes=attributes, **common)  # type: ignore[arg-type]
        if changetype == "delete":
            if index < count:
                raise self.error(
                    f"a 'changetype: delete' record ends after 'changetype:', found {_show(lines[index])}",
                    at(index),
                )
            return LdifChange(changetype="delete", **common)  # type: ignore[arg-type]
        if changetype == "modify":
            modifications = self.modifications(lines, index, at)
            return LdifChange(changetype="modify", modifications=modifications, **common)  # type: ignore[arg-type]
        if changetype in ("modrdn", "moddn"):
            return self.moddn(lines, index, at, changetype, ct_line, common)
        raise self.error(
            f"unknown changetype {changetype!r}; expected one of {', '.join(CHANGE_TYPES)}", ct_line
        )

    def modifications(self, lines: list[str], index: int, at: _LineOf) -> list[Modification]:
        result: list[Modification] = []
        count = len(lines)
        while index < count:
            line = lines[index]
            op_line = at(index)
            op, sep, rest = line.partition(":")
            op = op.lower()
            if not sep or op not in MODIFY_OPERATIONS:
                raise self.error(
                    f"expected 'add:', 'delete:' or 'replace:' to start a modification, found {_show(line)}",
                    op_line,
                )
            attribute = rest.strip(" ")
            if _ATTR_DESC_RE.match(attribute) is None:
                raise self.error(f"invalid attribute description {attribute!r} after '{op}:'", op_line)
            wanted = attribute.lower()
            index += 1
            values: list[Value] = []
            while True:
                if index >= count:
                    raise self.error(
                        f"the modification '{op}: {attribute}' is not ended by a '-' line", op_line
                    )
                line = lines[index]
                if line == "-" or line.rstrip(" ") == "-":
                    index += 1
                    break
                name, sep, rest = line.partition(":")
                lname = name.lower()
                if not sep or lname != wanted:
                    if sep and lname in MODIFY_OPERATIONS:
                        raise self.error(
                            f"expected '-' to end the modification '{op}: {attribute}' (line {op_line}) "
                            f"before the next one, found {_show(line)}",
                            at(index),
                        )
                    raise self.error(
                        f"expected a value of {attribute!r} or '-', found {_show(line)}",
                        at(index),
                    )
                value = self.value(rest, name, at(index))
                if isinstance(value, str) and ";binary" in lname:
                    value = value.encode("utf-8")
                values.append(value)
                index += 1
            result.append(Modification(op=op, attribute=attribute, values=values))  # type: ignore[arg-type]
        return result

    def moddn(
        self,
        lines: list[str],
        index: int,
        at: _LineOf,
        changetype: str,
        ct_line: int,
        common: dict[str, object],
    ) -> LdifChange:
        count = len(lines)

        def field(keyword: str, required: bool) -> tuple[str, int] | None:
            nonlocal index
            if index < count:
                name, sep, rest = lines[index].partition(":")
                if sep and name.lower() == keyword:
                    index += 1
                    return rest, at(index - 1)
            if not required:
                return None
            found = _show(lines[index]) if index < count else "the end of the record"
            raise self.error(
                f"expected '{keyword}:' in the 'changetype: {changetype}' record, found {found}",
                at(index) if index < count else ct_line,
            )

        newrdn_field = field("newrdn", True)
        assert newrdn_field is not None
        newrdn = self.dn_value(newrdn_field[0], "newrdn", newrdn_field[1], rdn=True)
        delete_field = field("deleteoldrdn", True)
        assert delete_field is not None
        flag = delete_field[0].strip(" ")
        if flag not in ("0", "1"):
            raise self.error(f"deleteoldrdn must be 0 or 1, found {flag!r}", delete_field[1])
        superior_field = field("newsuperior", False)
        newsuperior = (
            self.dn_value(superior_field[0], "newsuperior", superior_field[1]) if superior_field else None
        )
        if index < count:
            raise self.error(
                f"unexpected line in the 'changetype: {changetype}' record: {_show(lines[index])}; expected "
                "only newrdn, deleteoldrdn and newsuperior",
                at(index),
            )
        return LdifChange(
            changetype=changetype,  # type: ignore[arg-type]
            newrdn=newrdn,
            deleteoldrdn=flag == "1",
            newsuperior=newsuperior,
            **common,  # type: ignore[arg-type]
        )

    def control(self, line: str, lineno: int) -> Control:
        rest = line[8:].lstrip(" ")
        match = _CONTROL_RE.match(rest)
        if match is None:
            raise self.error(f"expected 'control: <OID> [true|false] [: value]', found {_show(line)}", lineno)
        critical = (match.group(2) or "false").lower() == "true"
        tail = rest[match.end() :]
        value = self.value(tail[1:], "control", lineno) if tail else None
        return Control(oid=match.group(1), critical=critical, value=value)


class _LazyNumbers:
    """The first line numbers of the logical lines of a folded record, worked out only when one is needed."""

    __slots__ = ("_chunk", "_numbers", "_reader", "_start")

    def __init__(self, reader: _Reader, chunk: str, start: int) -> None:
        self._reader = reader
        self._chunk = chunk
        self._start = start
        self._numbers: list[int] | None = None

    def tolist(self) -> list[int]:
        if self._numbers is None:
            self._numbers = self._reader.unfold(self._chunk, self._start)[1]
        return self._numbers

    def __getitem__(self, index: int) -> int:
        return self._start if index == 0 else self.tolist()[index]


_Numbers: TypeAlias = "list[int] | _LazyNumbers | None"


def _as_list(numbers: list[int] | _LazyNumbers) -> list[int]:
    return numbers if isinstance(numbers, list) else numbers.tolist()


def _dn_ok(dn: str, cache: set[str]) -> bool:
    """Whether ``dn`` is an RFC 4514 DN. ``cache`` holds DNs already found valid; a DN whose parent is in it
    only has its first RDN checked, so a file of entries below the same parents is checked in linear time, and
    any one DN in time linear in its length."""
    if not dn or dn in cache:
        return True
    pos = 0
    end = len(dn)
    parent_checked = False
    while True:
        match = _RDN_HEAD_RE.match(dn, pos)
        if match is None:
            return False
        pos = match.end()
        if pos == end:
            if match.group(1) is not None:  # a trailing comma
                return False
            break
        # only the parent is looked up: a lookup copies and hashes the rest of the DN, so trying every
        # ancestor made a DN of many RDNs quadratic; a parent not seen is checked RDN by RDN, linearly
        if not parent_checked:
            parent_checked = True
            if dn[pos:] in cache:
                break
    cache.add(dn)
    return True


def _merge_case(attributes: dict[str, list[Value]]) -> dict[str, list[Value]]:
    """Merge attributes whose names differ only in letter case, under the first spelling."""
    merged: dict[str, list[Value]] = {}
    spelling: dict[str, str] = {}
    for name, values in attributes.items():
        first = spelling.setdefault(name.lower(), name)
        if first == name:
            merged[name] = values
        else:
            merged[first].extend(values)
    return merged


def _show(line: str, limit: int = 60) -> str:
    return repr(line if len(line) <= limit else line[:limit] + "...")


# --- writing -------------------------------------------------------------------------------------


def write_ldif(records: Iterable[LdifRecord], *, version: bool = True, wrap: int = 76) -> str:
    """Write records as LDIF text.

    Args:
        records: content records (:class:`LdifEntry`) or change records (:class:`LdifChange`), not both.
        version: start with a ``version: 1`` line.
        wrap: fold lines longer than this many columns (76 by default); 0 turns folding off.

    Returns:
        The LDIF text, records separated by one blank line, ending with a line break.

    Raises:
        LdifError: a record cannot be written (invalid DN or attribute description, an entry without values,
            content and change records mixed).
    """
    writer = _Writer(wrap)
    parts: list[str] = [_fold("version: 1\n", wrap)] if version else []
    first_kind: str | None = None
    for record in records:
        kind = "content" if isinstance(record, LdifEntry) else "change"
        if first_kind is None:
            first_kind = kind
        elif kind != first_kind:
            raise LdifError(
                f"cannot write a {kind} record ({record.dn!r}) after {first_kind} records: an LDIF file "
                "holds either content records or change records (RFC 2849)"
            )
        parts.append(writer.record(record))
    return "\n".join(parts)


def format_entry(record: LdifRecord, *, wrap: int = 76) -> str:
    """Write one record as LDIF lines (no version line, no blank line around it).

    Values are written plainly when RFC 2849 allows it (SAFE-STRING) and base64-encoded (``::``) otherwise:
    when they start with a space, ``:`` or ``<``, end with a space, or contain NUL, CR, LF or any non-ASCII
    character, and when they are not UTF-8 text.

    Args:
        record: an :class:`LdifEntry` or :class:`LdifChange`.
        wrap: fold lines longer than this many columns; 0 turns folding off.

    Raises:
        LdifError: the record cannot be written.
    """
    return _Writer(wrap).record(record)


_OID_RE = re.compile(r"[0-9]+(?:\.[0-9]+)*\Z")
# SAFE-STRING (RFC 2849) has no NUL, LF, CR or non-ASCII character and does not start with SPACE, ":" or "<";
# values ending with a space are base64-encoded too, so that no tool strips the space.
_UNSAFE_CHAR_RE = re.compile("[\x00\n\r\x80-\U0010ffff]")


class _Writer:
    """The state of one write: the fold width and the names and DNs already checked."""

    def __init__(self, wrap: int) -> None:
        if wrap and wrap < 2:
            raise ValueError(f"wrap must be 0 (no folding) or at least 2, not {wrap}")
        self.wrap = wrap
        self.names: set[str] = set()
        self.dns: set[str] = set()

    def record(self, record: LdifRecord) -> str:
        wrap = self.wrap
        out: list[str] = []
        dn = record.dn
        if not isinstance(dn, str) or not _dn_ok(dn, self.dns):
            raise LdifError(f"cannot write the invalid distinguished name {dn!r}")
        out.append(_attr_line("dn", dn, wrap))
        if isinstance(record, LdifEntry):
            if not self.attributes(out, record.attributes, dn):
                raise LdifError(f"cannot write entry {dn!r}: it has no attribute values")
            return "".join(out)
        for control in record.controls:
            head = f"control: {control.oid} {'true' if control.critical else 'false'}"
            if not isinstance(control.oid, str) or _OID_RE.match(control.oid) is None:
                raise LdifError(f"cannot write the control {control.oid!r} of {dn!r}: not a dotted OID")
            out.append(
                _fold(head + "\n", wrap) if control.value is None else _attr_line(head, control.value, wrap)
            )
        changetype = record.changetype
        if changetype not in CHANGE_TYPES:
            raise LdifError(f"cannot write {dn!r}: unknown changetype {changetype!r}")
        unused = [
            field
            for field, used_by, present in (
                ("attributes", ("add",), bool(record.attributes)),
                ("modifications", ("modify",), bool(record.modifications)),
                ("newrdn", ("modrdn", "moddn"), record.newrdn is not None),
                ("newsuperior", ("modrdn", "moddn"), record.newsuperior is not None),
            )
            if present and changetype not in used_by
        ]
        if unused:
            raise LdifError(
                f"cannot write the {changetype} record {dn!r}: it has {' and '.join(unused)}, which a "
                f"'changetype: {changetype}' record cannot hold"
            )
        out.append(_fold(f"changetype: {changetype}\n", wrap))
        if changetype == "add":
            if not self.attributes(out, record.attributes, dn):
                raise LdifError(f"cannot write the add record {dn!r}: it has no attribute values")
        elif changetype == "modify":
            for mod in record.modifications:
                if mod.op not in MODIFY_OPERATIONS:
                    raise LdifError(f"cannot write {dn!r}: unknown modify operation {mod.op!r}")
                self.check_name(mod.attribute, dn)
                out.append(_fold(f"{mod.op}: {mod.attribute}\n", wrap))
                for value in mod.values:
                    out.append(_attr_line(mod.attribute, value, wrap))
                out.append("-\n")
        elif changetype in ("modrdn", "moddn"):
            newrdn = record.newrdn
            if not isinstance(newrdn, str) or _RDN_RE.match(newrdn) is None:
                raise LdifError(f"cannot write the {changetype} record {dn!r}: invalid newrdn {newrdn!r}")
            out.append(_attr_line("newrdn", newrdn, wrap))
            out.append(_fold(f"deleteoldrdn: {1 if record.deleteoldrdn else 0}\n", wrap))
            superior = record.newsuperior
            if superior is not None:
                if not isinstance(superior, str) or not _dn_ok(superior, self.dns):
                    raise LdifError(f"cannot write {dn!r}: invalid newsuperior {superior!r}")
                out.append(_attr_line("newsuperior", superior, wrap))
        return "".join(out)

    def check_name(self, name: str, dn: str) -> None:
        if name not in self.names:
            if not isinstance(name, str) or _ATTR_DESC_RE.match(name) is None:
                raise LdifError(f"cannot write the invalid attribute description {name!r} of {dn!r}")
            self.names.add(name)

    def attributes(self, out: list[str], attributes: dict[str, list[Value]], dn: str) -> int:
        """Append the lines of ``attributes`` to ``out``; return how many values were written."""
        wrap = self.wrap
        unsafe = _UNSAFE_CHAR_RE.search
        written = 0
        for name, values in attributes.items():
            self.check_name(name, dn)
            if isinstance(values, str | bytes):
                raise TypeError(
                    f"the values of {name!r} must be a list of str or bytes, "
                    f"not a single {type(values).__name__}"
                )
            prefix = name + ": "
            room = wrap - len(prefix) if wrap else 1 << 62
            for value in values:
                # fast path: a SAFE-STRING that fits on one line
                if (
                    type(value) is str
                    and 0 < len(value) <= room
                    and value[0] not in " :<"
                    and value[-1] != " "
                    and unsafe(value) is None
                ):
                    out.append(prefix + value + "\n")
                else:
                    out.append(_attr_line(name, value, wrap))
            written += len(values)
        return written


def _attr_line(name: str, value: Value, wrap: int) -> str:
    if isinstance(value, str):
        if not value:
            return _fold(f"{name}:\n", wrap)
        if value[0] not in " :<" and value[-1] != " " and _UNSAFE_CHAR_RE.search(value) is None:
            return _fold(f"{name}: {value}\n", wrap)
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise LdifError(f"the value of {name!r} cannot be encoded as UTF-8: {exc.reason}") from exc
    elif isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        if not data:
            return _fold(f"{name}:\n", wrap)
        if data.isascii():
            text = data.decode("ascii")
            if text[0] not in " :<" and text[-1] != " " and _UNSAFE_CHAR_RE.search(text) is None:
                return _fold(f"{name}: {text}\n", wrap)
    else:
        raise TypeError(f"a value of {name!r} must be str or bytes, not {type(value).__name__}")
    return _fold(f"{name}:: {binascii.b2a_base64(data, newline=False).decode('ascii')}\n", wrap)


def _fold(line: str, wrap: int) -> str:
    """Fold ``line`` (which ends with a line break) so that no line exceeds ``wrap`` columns."""
    size = len(line) - 1
    if not wrap or size <= wrap:
        return line
    step = wrap - 1
    parts = [line[:wrap]]
    parts.extend(line[pos : min(pos + step, size)] for pos in range(wrap, size, step))
    return "\n ".join(parts) + "\n"


# --- a whole configuration ------------------------------------------------------------------------------------


def load(
    source: str | bytes | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    base_dn: str | None = None,
    filename: str | None = None,
    allow_file_urls: bool = False,
) -> Configuration:
    """Read a configuration from LDIF: a file path, LDIF text, or a list of files read as one.

    ``allow_file_urls`` lets ``attr:< file:...`` values read files (regular files only, 16 MiB each at most):
    for the operator's own files; off by default (see :func:`iter_ldif`).

    A ``str`` containing a newline, or ``bytes``, is LDIF text; any other ``str`` or path is a file name.
    A list or tuple of paths is read in order as if concatenated (e.g. ``default-config.ldif`` and then
    ``sample-export.ldif``, whose exporter lives on a device of the first). ``base_dn`` defaults to the
    one the devices are found under (``dc=dcm4che,dc=org`` when there are none). ``filename`` names text
    (or a single file) in messages.

    Raises:
        LdifError: malformed LDIF (with file and line).
        ConfigurationError: an entry that cannot be a valid model (with DN, file and line).
    """
    sources: list[str | bytes | os.PathLike[str]] = (
        list(source) if isinstance(source, list | tuple) else [source]  # type: ignore[list-item]
    )
    collected: list[tuple[str, Mapping[str, Any], SourceLocation]] = []
    for src in sources:
        if isinstance(src, os.PathLike) or (isinstance(src, str) and "\n" not in src):
            path = Path(src)
            name = filename if filename and len(sources) == 1 else str(path)
            records = iter_ldif(path, filename=name, allow_file_urls=allow_file_urls)
        else:
            name = filename or "<string>"
            records = iter_ldif(src, filename=name, allow_file_urls=allow_file_urls)
        for rec in records:
            if isinstance(rec, LdifEntry):
                collected.append((rec.dn, rec.attributes, SourceLocation(name, rec.line)))
    return configuration_from_entries(collected, base_dn=base_dn)


def dumps(configuration: Configuration) -> str:
    """The whole configuration as LDIF text: parents before children, defaults omitted, secrets kept.

    Entries read from files keep their order; the unique-name registry entries of the devices added with
    ``register=True`` are written too.
    """
    return write_ldif(
        LdifEntry(dn=dn, attributes={k: list(v) for k, v in attributes.items()}, line=0)
        for dn, attributes in configuration_to_entries(configuration)
    )


# --- editing a file in place ------------------------------------------------------------------------


_NAME_RE = re.compile(r"([A-Za-z0-9][A-Za-z0-9.;-]*):")
_DN_SPLIT_RE = re.compile(r"(?<!\\),")


@attrs.define
class _Block:
    """A run of non-blank lines of an LDIF file and the blank lines after it, as they are in the file."""

    body: list[str]
    trailing: list[str]
    dn: str | None = None  # the normalised DN of a record block; None for the version line and comments
    raw_dn: str = ""
    attributes: dict[str, list[Value]] = attrs.field(factory=_no_values)


def _blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    for line in text.splitlines(keepends=True):
        if line.strip("\r\n") == "":
            if blocks:
                blocks[-1].trailing.append(line)
            else:
                blocks.append(_Block(body=[], trailing=[line]))
        elif blocks and not blocks[-1].trailing:
            blocks[-1].body.append(line)
        else:
            blocks.append(_Block(body=[line], trailing=[]))
    out: list[_Block] = []
    for block in blocks:
        # a version line directly followed by the first record is a block of its own
        if block.body and block.body[0].lower().startswith("version:") and len(block.body) > 1:
            rest = block.body[1:]
            if not any(line.startswith((" ", "#")) for line in rest[:1]):
                out.append(_Block(body=block.body[:1], trailing=[]))
                out.append(_Block(body=rest, trailing=block.trailing))
                continue
        out.append(block)
    return out


def _logical_lines(body: list[str]) -> list[list[str]]:
    """The physical lines of a block grouped into logical lines (a line and its folded continuations)."""
    groups: list[list[str]] = []
    for line in body:
        if line.startswith(" ") and groups:
            groups[-1].append(line)
        else:
            groups.append([line])
    return groups


def _norm_attributes(attributes: Mapping[str, Sequence[Value]]) -> dict[str, list[Value]]:
    merged: dict[str, list[Value]] = {}
    for name, values in attributes.items():
        merged.setdefault(name.lower(), []).extend(values)
    return merged


def update(
    original: str,
    configuration: Configuration,
    *,
    filename: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> str:
    """The LDIF of ``configuration`` written over ``original``, keeping everything of it that did not change.

    ``original`` is the LDIF text ``configuration`` was read from (before it was changed). Entries the change
    left alone stay byte for byte as they were (position, comments, line folding, attribute order, values
    the codec would write differently or omit as defaults); a changed entry is rewritten in place, only its
    changed attributes in new lines; a removed entry goes with its lines (and what the configuration model
    does not hold below it); a new entry is added after the entry it follows in :func:`dumps`. So editing
    one exporter of dcm4che's ``default-config.ldif`` changes only that exporter's lines, and writing a
    configuration back without a change gives ``original`` unchanged.

        >>> from dcm_exporter.codecs import ldif
        >>> text = ("# my archive\\n\\n"
        ...         "dn: dicomDeviceName=storescp,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org\\n"
        ...         "objectClass: dicomDevice\\n"
        ...         "dicomDeviceName: storescp\\n"
        ...         "dicomInstalled: TRUE\\n")
        >>> configuration = ldif.load(text)
        >>> ldif.update(text, configuration) == text
        True
        >>> import attrs
        >>> changed = configuration.replace_device(attrs.evolve(configuration.devices[0], description="the SCP"))
        >>> print(ldif.update(text, changed), end="")
        # my archive
        <BLANKLINE>
        dn: dicomDeviceName=storescp,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
        objectClass: dicomDevice
        dicomDeviceName: storescp
        dicomInstalled: TRUE
        dicomDescription: the SCP

    Raises:
        LdifError: ``original`` is not LDIF of content records, or the result cannot be written.
        ConfigurationError: ``original`` does not hold a valid configuration.
    """
    if "\r" in original:
        newline = "\r\n" if "\r\n" in original else "\n"
    else:
        newline = "\n"
    body_text = original[1:] if original[:1] == "\ufeff" else original
    blocks = _blocks(body_text)
    records: list[_Block] = []
    for block in blocks:
        text = "".join(block.body)
        if not any(line.lower().startswith("dn:") for line in block.body):
            continue
        parsed = read_ldif(text, filename=filename, base_dir=base_dir or (Path(filename).parent if filename else None))
        if len(parsed) != 1 or not isinstance(parsed[0], LdifEntry):
            raise LdifError("only files of content records (entries) can be edited in place", filename=filename)
        block.raw_dn = parsed[0].dn
        block.dn = normalize_dn(parsed[0].dn)
        block.attributes = parsed[0].attributes
        records.append(block)
    if not records:
        return dumps(configuration)
    baseline_config = load(body_text, filename=filename)
    baseline = {normalize_dn(dn): _norm_attributes(a) for dn, a in configuration_to_entries(baseline_config)}
    wanted = [(dn, attributes) for dn, attributes in configuration_to_entries(configuration)]
    new = {normalize_dn(dn): (dn, attributes) for dn, attributes in wanted}
    in_file = {block.dn for block in records}

    removed: set[str] = set()
    output_for: dict[int, list[str] | None] = {}  # id(block) -> replacement body, None = drop
    for block in records:
        assert block.dn is not None
        before = baseline.get(block.dn)
        if before is None:
            before = _norm_attributes(block.attributes)
            if block.dn not in new:
                # an entry the model does not hold: kept, unless an entry above it goes
                if any(block.dn.endswith("," + gone) for gone in removed):
                    output_for[id(block)] = None
                continue
        if block.dn not in new:
            removed.add(block.dn)
            output_for[id(block)] = None
            continue
        after = _norm_attributes(new[block.dn][1])
        if after == before:
            continue
        output_for[id(block)] = _rewrite(block, before, new[block.dn][1], newline)

    # a new entry goes after the last entry of the file below its parent (after its siblings), or, when the
    # file has none, after the entry that precedes it in the configuration's order
    last_below: dict[str, str] = {}
    for block in records:
        if block.dn is None or output_for.get(id(block), ()) is None:
            continue
        parts = _DN_SPLIT_RE.split(block.dn)
        for i in range(len(parts)):
            last_below[",".join(parts[i:])] = block.dn
    inserted: dict[str | None, list[str]] = {}
    placed: dict[str, str | None] = {}  # new entry -> the anchor it went after
    anchor: str | None = None
    for dn, attributes in wanted:
        norm = normalize_dn(dn)
        if norm in in_file:
            anchor = norm
            continue
        parts = _DN_SPLIT_RE.split(norm, maxsplit=1)
        parent = parts[1] if len(parts) > 1 else ""
        where = placed[parent] if parent in placed else last_below.get(parent, anchor)
        placed[norm] = where
        entry = format_entry(LdifEntry(dn=dn, attributes={k: list(v) for k, v in attributes.items()}))
        inserted.setdefault(where, []).append(entry.replace("\n", newline))

    pieces: list[tuple[list[str], list[str]]] = []  # (lines, trailing blank lines) of each block written
    first_record = records[0]
    for block in blocks:
        if block is first_record and None in inserted:
            for entry in inserted[None]:
                pieces.append(([entry], [newline]))
        if block.dn is not None and id(block) in output_for:
            replacement = output_for[id(block)]
            if replacement is None:
                continue
            lines = list(replacement)
        else:
            lines = list(block.body)
        extra = inserted.get(block.dn) if block.dn is not None else None
        if extra:
            if lines and not lines[-1].endswith("\n"):
                lines.append(newline)
            for entry in extra:
                lines.append(newline)
                lines.append(entry)
        pieces.append((lines, list(block.trailing)))
    if pieces and blocks[-1].dn is not None and output_for.get(id(blocks[-1]), ()) is None:
        # the file's last entry went: the file ends as it did, not with the separator of the entry before
        pieces[-1] = (pieces[-1][0], list(blocks[-1].trailing))
    out = [line for lines, trailing in pieces for line in (*lines, *trailing)]
    if out and not out[-1].endswith("\n"):
        out.append(newline)
    return "".join(out)


def _rewrite(
    block: _Block, before: dict[str, list[Value]], after: Mapping[str, Sequence[Value]], newline: str
) -> list[str]:
    """The lines of a changed entry: unchanged attributes as they were, changed ones in new lines in place."""
    after_norm = _norm_attributes(after)
    changed = {name for name in before.keys() | after_norm.keys() if before.get(name) != after_norm.get(name)}
    written: set[str] = set()
    out: list[str] = []
    for group in _logical_lines(block.body):
        head = group[0]
        match = _NAME_RE.match(head)
        if head.startswith("#") or match is None or match.group(1).lower() == "dn":
            out.extend(group)
            continue
        name = match.group(1).lower()
        if name not in changed:
            out.extend(group)
            continue
        if name in written:
            continue
        written.add(name)
        for spelled, values in after.items():
            if spelled.lower() == name:
                out.extend(_attr_line(spelled, value, 76).replace("\n", newline) for value in values)
    if out and not out[-1].endswith("\n"):
        out[-1] += newline
    for spelled, values in after.items():
        name = spelled.lower()
        if name in changed and name not in written:
            written.add(name)
            out.extend(_attr_line(spelled, value, 76).replace("\n", newline) for value in values)
    return out
