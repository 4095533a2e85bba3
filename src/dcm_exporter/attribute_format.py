"""dcm4che's attribute format: the syntax of ``dcmStoragePathFormat`` and similar patterns.

A pattern is literal text with ``{...}`` fields. Each field names an attribute — a tag in hex
(``0020000D``) or a DICOM keyword (``StudyInstanceUID``), a path into sequences separated by ``.``
(the first item of each sequence is used), optionally a 0-based value index ``[n]`` (default: the first
value) — or one of the pseudo attributes ``now`` and ``rnd``; then optionally ``,type`` and arguments:

=========================  ===========================================================================
field                      value
=========================  ===========================================================================
``{tag}``                  the value as text; the empty string when absent or empty (also ``upper``, ``slice``)
``{tag,upper}``            the value in upper case (``Ärzte-ß`` → ``ÄRZTE-SS``)
``{tag,slice,a[,b]}``      ``value[a:b]`` as in Python (``{0020000D,slice,-4}``: the last 4 characters),
                           except that an end of 0 takes the whole value, as upstream
``{tag,hash}``             Java's 32-bit ``String.hashCode()`` of the value as 8 upper-case hex digits
``{tag,md5}``              MD5 of the UTF-8 value as 26 characters of ``0-9a-v`` (dcm4che's layout)
``{tag,urlencoded}``       the value ``application/x-www-form-urlencoded`` (Java ``URLEncoder``)
``{tag,offset,n}``         the value as integer plus ``n`` (0 when absent)
``{tag,number[,p]}``       the value as number in ``DecimalFormat`` pattern ``p`` (default ``#,##0.###``;
                           also ``integer``, ``percent``, exponents as in ``0.00E0``)
``{tag,date[,p]}``         a DA/DT value in ``SimpleDateFormat`` pattern ``p`` (or ``short``, ``medium``,
                           ``long``, ``full``); ``time`` likewise for TM
``{tag,dateP1D,p}``        the date shifted by an ISO 8601 period (``P1D``, ``-P1M``: years, then months,
                           then days) before formatting; ``{tag,timePT1H,p}`` by the whole seconds of an
                           ISO 8601 duration; with no value to shift the format fails, as upstream's
``{now,date,p}``           the current time in pattern ``p``, e.g. ``{now,date,yyyy/MM/dd}``
``{rnd}``                  a random 32-bit number as 8 upper-case hex digits
``{rnd,uuid}``             a random UUID; ``{rnd,uid}`` a random ``2.25.`` UID
=========================  ===========================================================================

As upstream, the pattern becomes a Java ``MessageFormat`` after the fields are numbered, so its quoting
rules hold for the whole pattern: ``''`` is one quote and text between single quotes is literal, fields
included (``'{00100020}'`` gives ``{0}``, ``it's/{00100020}`` gives ``its/{0}``). Values are read as dcm4che
reads them: leading and trailing spaces are not part of a value (except the leading ones of ST, LT and UT);
an FL or FD value is the text Java's ``Float.toString`` / ``Double.toString`` give it, trimmed as dcm4che's
``formatDS`` trims it (``1E-5``, ``1``, ``0.1`` for the FL value nearest 0.1, ``1.0E7`` becomes ``1E7``), and
so is the n-th number of an OF or OD value; the n-th number of an OB, UN, OW, OL or OV value is read signed
(``-1`` for the byte ``FF``); an AT value is its tag as 8 hex digits (``00181063``);
a DA, TM or DT value without its own offset is in the zone of the dataset's Timezone Offset From UTC
(0008,0201) when it has one, and the result is shown in the format's zone; a local date-time that a DST change makes
ambiguous or skips is read with the zone's standard offset, as ``java.util.GregorianCalendar`` does. Letters
follow ``SimpleDateFormat`` in the ``en_US`` locale (weeks start on Sunday, week 1 holds 1 January).

As upstream, ``hash``, ``md5``, ``urlencoded``, ``date`` and ``time`` of an absent or empty value, and any
field under a sequence that is absent or has no item, format as ``null`` (Java's ``MessageFormat`` prints a
``null`` argument so).

Not supported, with a :class:`~dcm_exporter.errors.ConfigurationError` saying so: ``choice`` sub-formats,
currency number formats and the long zone names (``zzzz``). Where we differ from upstream on purpose
(``number`` of an IS/US value) see ``docs/explanation/deviations.md``.

    >>> from pydicom import Dataset
    >>> ds = Dataset()
    >>> ds.StudyInstanceUID = "1.2.3"
    >>> AttributesFormat("{0020000D,hash}/{StudyInstanceUID}").format(ds)
    '02C82A3A/1.2.3'
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import struct
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any

import attrs

from dcm_exporter._imports import PYDICOM, require
from dcm_exporter._java_text import (
    DATE_STYLES,
    TIME_STYLES,
    Slot,
    compile_date_pattern,
    compile_duration,
    compile_number_pattern,
    compile_period,
    dicom_ds_text,
    localize,
    parse_message_format,
    to_binary32,
)
from dcm_exporter.errors import ConfigurationError, UnsafePathError
from dcm_exporter.schedule import local_zone

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = ["DEFAULT_STORAGE_PATH_FORMAT", "AttributesFormat", "java_string_hash", "md5_base32"]

#: dcm4chee-arc's path format of a storage without ``dcmStoragePathFormat``.
DEFAULT_STORAGE_PATH_FORMAT = "{now,date,yyyy/MM/dd}/{0020000D,hash}/{0020000E,hash}/{00080018,hash}"

_STRING_TYPES = frozenset({"none", "upper", "slice", "hash", "md5", "urlencoded"})
_TYPES = _STRING_TYPES | {"number", "offset", "date", "time", "choice", "rnd", "uuid", "uid"}
_B32 = "0123456789abcdefghijklmnopqrstuv"
_MASK64 = (1 << 64) - 1
#: VRs whose leading spaces are significant (dcm4che trims only trailing spaces of these)
_TEXT_VRS = frozenset({"ST", "LT", "UT"})
#: VRs whose values are IEEE 754 numbers: FL and OF binary32, FD and OD binary64
_BINARY_FLOAT_VRS = frozenset({"FL", "FD", "OF", "OD"})
#: the binary VRs pydicom keeps as bytes: the struct code of one value (dcm4che reads OB, OW, OL, OV signed)
_BYTES_VRS = {"OB": "b", "UN": "b", "OW": "h", "OL": "i", "OV": "q", "OF": "f", "OD": "d"}


# --- the value transforms --------------------------------------------------------------------------


def java_string_hash(text: str) -> str:
    """Java's ``String.hashCode()`` of ``text`` as 8 upper-case hex digits (dcm4che's ``hash`` type).

    The hash runs over UTF-16 code units, ``h = 31 * h + unit`` in 32-bit arithmetic.

    >>> java_string_hash("")
    '00000000'
    >>> java_string_hash("a")
    '00000061'
    """
    h = 0
    data = text.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return f"{h:08X}"


def _to_long(digest: bytes, offset: int) -> int:
    # dcm4che shifts after OR-ing each byte, so the first byte falls off the 64-bit value
    value = 0
    for b in digest[offset : offset + 8]:
        value = ((value | b) << 8) & _MASK64
    return value


def md5_base32(text: str) -> str:
    """MD5 of the UTF-8 ``text`` rendered as dcm4che's ``md5`` type does: 26 characters of ``0-9a-v``.

    dcm4che reads the 16 digest bytes as two 64-bit numbers in its own way (see ``_to_long``) and
    emits 5 bits at a time, lowest first; the result is a fixed-width, file-name-safe token.
    """
    digest = hashlib.md5(text.encode("utf-8")).digest()
    l1 = _to_long(digest, 0)
    l2 = _to_long(digest, 8)
    out = []
    for _ in range(12):
        out.append(_B32[l1 & 0x1F])
        l1 >>= 5
    l1 |= (l2 & 1) << 4
    out.append(_B32[l1 & 0x1F])
    l2 >>= 1
    for _ in range(13):
        out.append(_B32[l2 & 0x1F])
        l2 >>= 5
    return "".join(out)


def _url_encode(text: str) -> str:
    # Java URLEncoder keeps A-Z a-z 0-9 . - * _, encodes space as '+', everything else %XX of UTF-8
    return urllib.parse.quote_plus(text, safe="*").replace("~", "%7E")


def _random_uid() -> str:
    return "2.25." + str(uuid.uuid4().int)


# --- dataset access -----------------------------------------------------------------------------------


def _parse_tag(name: str, pattern: str) -> int:
    if re.fullmatch(r"[0-9A-Fa-f]{1,8}", name):
        return int(name, 16)
    require(*PYDICOM)
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(name)
    if tag is None:
        raise ConfigurationError(
            f"attribute format {pattern!r}: {name!r} is neither a hex tag nor a DICOM keyword"
        )
    return int(tag)


def _items(ds: Any, path: Sequence[int]) -> list[Any] | None:
    """The dataset and the first item of each sequence along ``path`` (the last element's holder last);
    ``None`` when a sequence on the way is absent or has no item (upstream then hands ``null``)."""
    chain = [ds]
    for tag in path[:-1]:
        item = chain[-1]
        if tag not in item:
            return None
        seq = item[tag].value
        if not seq:
            return None
        chain.append(seq[0])
    return chain


_OFFSET = re.compile(r"([+-])(\d{2})(\d{2})")


def _dataset_zone(chain: Sequence[Any]) -> tzinfo | None:
    """The zone of Timezone Offset From UTC (0008,0201) of the innermost item along ``chain`` holding one,
    as dcm4che's ``Attributes.getTimeZone`` (``None``: none, or not ``+HHMM``)."""
    for item in reversed(chain):
        if 0x00080201 in item:
            text = _string_value(item, (0x00080201,), 0)
            m = _OFFSET.fullmatch(text or "")
            if m is None:
                return None
            sign = 1 if m[1] == "+" else -1
            return timezone(sign * timedelta(hours=int(m[2]), minutes=int(m[3])))
    return None


def _element(ds: Any, path: Sequence[int]) -> Any:
    chain = _items(ds, path)
    item = chain[-1] if chain is not None else None
    if item is None or path[-1] not in item:
        return None
    raw = _raw_text_element(item, path[-1], only=_NUMBER_TEXT_VRS)
    if raw is not None:
        # IS/DS as read from a file: their text is what the format wants, and pydicom's conversion
        # to a number warns on, or fails for, hostile values ('1e400', 5,000 digits)
        return raw
    try:
        return item[path[-1]]
    except (ValueError, OverflowError, ArithmeticError):
        # pydicom converts IS/DS text to numbers when it reads the element: '1e400' or 5,000 digits
        # make it raise; the format wants the text anyway, which the raw element still has
        return _raw_text_element(item, path[-1])


@attrs.frozen
class _RawTextElement:
    value: list[str]
    VR: str | None


_NUMBER_TEXT_VRS = frozenset({"IS", "DS"})


def _raw_text_element(item: Any, tag: int, only: frozenset[str] | None = None) -> _RawTextElement | None:
    """The element ``tag`` of ``item`` as its raw text when pydicom has not converted it yet (a dataset
    read from a file), else ``None``; with ``only``, just for those VRs."""
    try:
        raw = item.get_item(tag) if hasattr(item, "get_item") else None
    except (KeyError, ValueError, TypeError):
        return None
    data = getattr(raw, "value", None)
    if not isinstance(data, bytes | bytearray):
        return None
    vr = getattr(raw, "VR", None)
    if vr is None:  # implicit VR little endian: the dictionary's
        from pydicom.datadict import dictionary_VR

        try:
            vr = dictionary_VR(tag)
        except KeyError:
            return None
    if only is not None and vr not in only:
        return None
    text = bytes(data).decode("ascii", "replace")
    return _RawTextElement(value=text.split("\\"), VR=vr)


def _little_endian(ds: Any) -> bool:
    """The byte order of the binary values pydicom keeps as bytes: the file's (little endian when made in
    memory)."""
    encoding = getattr(ds, "original_encoding", None)
    return not (isinstance(encoding, tuple) and len(encoding) == 2 and encoding[1] is False)


def _bytes_value(data: bytes | bytearray, vr: str, index: int, little: bool) -> int | float | None:
    """The ``index``-th number of an OB/UN/OW/OL/OV/OF/OD value, read as dcm4che reads it (signed)."""
    code = _BYTES_VRS[vr]
    size = struct.calcsize(code)
    offset = index * size
    if offset + size > len(data):
        return None
    number: int | float = struct.unpack_from(("<" if little else ">") + code, data, offset)[0]
    return number


def _raw_value(ds: Any, path: Sequence[int], index: int) -> tuple[Any, str | None]:
    """The ``index``-th value of the element at ``path`` as pydicom holds it (the number, for the binary VRs
    pydicom keeps as bytes), and the element's VR; ``(None, None)`` when there is no such value."""
    elem = _element(ds, path)
    if elem is None:
        return None, None
    value = elem.value
    vr = getattr(elem, "VR", None)
    if isinstance(value, bytes | bytearray) and vr in _BYTES_VRS:
        number = _bytes_value(value, vr, index, _little_endian(ds))
        return (number, vr) if number is not None else (None, None)
    if value is None or isinstance(value, bytes | bytearray):
        return None, None
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        values = list(value)
    else:
        values = [value]
    if index >= len(values) or values[index] is None:
        return None, None
    return values[index], vr


def _is_binary_float(value: Any, vr: str | None) -> bool:
    return vr in _BINARY_FLOAT_VRS and isinstance(value, float | int) and not isinstance(value, bool)


def _single(vr: str | None) -> bool:
    return vr in ("FL", "OF")


def _string_value(ds: Any, path: Sequence[int], index: int) -> str | None:
    """The value as dcm4che's ``Attributes.getString`` gives it; ``None`` when absent or empty."""
    value, vr = _raw_value(ds, path, index)
    if value is None:
        return None
    if _is_binary_float(value, vr):
        # dcm4che prints an FL/FD value with Java's Float/Double.toString, trimmed by formatDS ('1E-5')
        return dicom_ds_text(float(value), single=_single(vr))
    if vr == "AT" and isinstance(value, int):
        return f"{value:08X}"  # dcm4che's TagUtils.toHexString, where pydicom's str gives (0018,1063)
    text = str(value)
    text = text.rstrip(" \x00") if vr in _TEXT_VRS else text.strip(" \x00")
    return text or None


def _float_value(ds: Any, path: Sequence[int], index: int) -> float:
    value, vr = _raw_value(ds, path, index)
    if _is_binary_float(value, vr):
        # as Attributes.getDouble: the binary value itself (an FL one widened), not its shortened text
        return to_binary32(value) if _single(vr) else float(value)
    text = _string_value(ds, path, index)
    if text is None:
        return 0.0
    try:
        return float(text)
    except ValueError:
        return 0.0


def _int_value(ds: Any, path: Sequence[int], index: int) -> int:
    text = _string_value(ds, path, index)
    if text is None:
        return 0
    try:
        return int(text)
    except ValueError:  # also a text past Python's 4,300-digit limit for int()
        try:
            value = float(text)
        except ValueError:
            return 0
    if not math.isfinite(value):
        # '1e400', 'inf', 5,000 digits: no integer to add an offset to (upstream's getInt fails too)
        shown = text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"
        raise ValueError(f"value {shown!r} is not a finite number")
    return int(value)


_DA = re.compile(r"(\d{4})\.?(\d{2})\.?(\d{2})")
_TM = re.compile(r"(\d{2}):?(\d{2})?:?(\d{2})?(?:\.(\d{1,6}))?")
_DT = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?")


def _date_value(ds: Any, path: Sequence[int], index: int, zone: tzinfo) -> datetime | None:
    """A DA, TM or DT value as an instant, read as dcm4che's ``Attributes.getDate`` reads it: in ``zone``,
    the dataset's zone (its Timezone Offset From UTC, else the format's)."""
    text = _string_value(ds, path, index)
    if text is None:
        return None
    vr = getattr(_element(ds, path), "VR", None)
    try:
        m = _DA.fullmatch(text) if vr in (None, "DA") else None
        if m:
            return localize(datetime(int(m[1]), int(m[2]), int(m[3])), zone)
        m = _TM.fullmatch(text) if vr in (None, "TM") else None
        if m:
            micro = int((m[4] or "0").ljust(6, "0"))
            return localize(datetime(1970, 1, 1, int(m[1]), int(m[2] or 0), int(m[3] or 0), micro), zone)
        m = _DT.fullmatch(text)
        if m:
            g = [int(m[k] or d) for k, d in ((1, 0), (2, 1), (3, 1), (4, 0), (5, 0), (6, 0))]
            wall = datetime(g[0], g[1], g[2], g[3], g[4], g[5], int((m[7] or "0").ljust(6, "0")))
            if m[8]:
                sign = 1 if m[8][0] == "+" else -1
                own = timezone(sign * timedelta(hours=int(m[8][1:3]), minutes=int(m[8][3:5])))
                return wall.replace(tzinfo=own).astimezone(zone)
            return localize(wall, zone)
    except ValueError:
        return None
    return None


# --- the format -----------------------------------------------------------------------------------------


@attrs.frozen
class _Field:
    text: str
    path: tuple[int, ...] | None  # None for now / rnd
    index: int
    type: str
    offset: int = 0
    slice: tuple[int | None, int | None] = (None, None)
    shift: Callable[[datetime, tzinfo], datetime] | None = attrs.field(default=None, eq=False)


def _tokenize(pattern: str) -> list[str]:
    """Split into alternating literal / field tokens, the way dcm4che does (nested braces kept)."""
    result: list[str] = []
    level = 0
    prev = "}"
    buf: list[str] = []
    for tk in re.split(r"([{}])", pattern):
        if tk == "":
            continue
        if tk == "{":
            if level == 0:
                if prev == "}":
                    result.append("")
            else:
                buf.append(tk)
            level += 1
        elif tk == "}":
            level -= 1
            if level == 0:
                result.append("".join(buf))
                buf.clear()
            elif level > 0:
                buf.append(tk)
            else:
                raise ConfigurationError(f"attribute format {pattern!r}: unbalanced '}}'")
        elif level == 0:
            result.append(tk)
        else:
            buf.append(tk)
        prev = tk[0]
    if level != 0:
        raise ConfigurationError(f"attribute format {pattern!r}: unbalanced '{{'")
    return result


def _slice_bounds(args: str) -> tuple[int | None, int | None]:
    parts = args.split(",")
    if not args or len(parts) > 2:
        raise ValueError("slice takes a start and an optional end, e.g. slice,-4 or slice,0,8")
    bounds = [int(p) for p in parts]
    if len(bounds) > 1 and bounds[1] == 0:
        return None, None  # upstream: an end of 0 takes the whole value, whatever the start
    return bounds[0], bounds[1] if len(bounds) > 1 else None


class AttributesFormat:
    """A compiled dcm4che attribute format pattern.

    Args:
        pattern: the pattern, e.g. ``{now,date,yyyy/MM/dd}/{0020000D,hash}/{00080018,hash}``.
        tz: the zone of ``now`` and of DA/TM/DT values (default: the local zone, as upstream).

    Raises:
        ConfigurationError: the pattern is malformed or uses an unsupported feature.
    """

    def __init__(self, pattern: str, *, tz: tzinfo | None = None) -> None:
        self.pattern = pattern
        self._tz = tz
        tokens = _tokenize(pattern)
        self._fields: list[_Field] = []
        message_format: list[str] = []
        for i in range(0, len(tokens) - 1, 2):
            field, suffix = self._compile_field(tokens[i + 1])
            self._fields.append(field)
            message_format.append(f"{tokens[i]}{{{len(self._fields) - 1}{suffix}}}")
        if len(tokens) % 2 == 1:
            message_format.append(tokens[-1])
        self._segments = parse_message_format("".join(message_format), pattern)
        self._formatters: dict[int, Callable[[Any], str]] = {}
        for seg in self._segments:
            if isinstance(seg, Slot) and id(seg) not in self._formatters:
                self._formatters[id(seg)] = self._compile_slot(seg)

    def __repr__(self) -> str:
        return f"AttributesFormat({self.pattern!r})"

    def __str__(self) -> str:
        return self.pattern

    @property
    def tag_paths(self) -> tuple[tuple[int, ...], ...]:
        """The attribute tag paths the pattern reads (for callers that want to read only those)."""
        return tuple(f.path for f in self._fields if f.path is not None)

    @property
    def uses_now(self) -> bool:
        """Whether the pattern contains ``{now,...}``."""
        return any(f.path is None and f.text.startswith("now") for f in self._fields)

    def _compile_field(self, text: str) -> tuple[_Field, str]:
        """The field and the text upstream puts after ``{n`` in its MessageFormat pattern."""
        pattern = self.pattern
        if not text:
            raise ConfigurationError(f"attribute format {pattern!r}: empty field '{{}}'")
        name, sep, rest = text.partition(",")
        type_name, has_args, args = rest.partition(",") if sep else ("none", "", "")
        shift: Callable[[datetime, tzinfo], datetime] | None = None
        suffix = ""
        try:
            if type_name.startswith(("date", "time")) and len(type_name) > 4:
                shift = (compile_period if type_name.startswith("date") else compile_duration)(type_name[4:])
                type_name = type_name[:4]
            elif type_name not in _TYPES:
                raise ConfigurationError(
                    f"attribute format {pattern!r}: unknown type {type_name!r} in field {{{text}}}; "
                    f"known: {', '.join(sorted(_TYPES - {'none', 'choice'}))}, dateP<period>, timeP<duration>"
                )
        except ValueError as exc:
            raise ConfigurationError(f"attribute format {pattern!r}: field {{{text}}}: {exc}") from exc
        if type_name == "choice":
            raise ConfigurationError(f"attribute format {pattern!r}: 'choice' fields are not supported")
        if type_name in ("number", "date", "time"):
            suffix = f",{type_name}" + (f",{args}" if has_args else "")
        path: tuple[int, ...] | None = None
        index = 0
        if name.startswith("rnd"):
            if type_name == "none":
                type_name = "rnd"
            elif type_name not in ("uuid", "uid"):
                raise ConfigurationError(f"attribute format {pattern!r}: {{rnd,...}} takes only uuid or uid")
        elif not name.startswith("now"):
            m = re.fullmatch(r"(.+?)(?:\[(\d+)\])?", name)
            assert m is not None
            path = tuple(_parse_tag(part, pattern) for part in m.group(1).split("."))
            index = int(m.group(2) or 0)
        elif type_name not in ("date", "time"):
            raise ConfigurationError(f"attribute format {pattern!r}: {{now}} needs type date or time")
        offset = 0
        bounds: tuple[int | None, int | None] = (None, None)
        try:
            if type_name == "offset":
                offset = int(args)
            elif type_name == "slice":
                bounds = _slice_bounds(args)
        except ValueError as exc:
            raise ConfigurationError(f"attribute format {pattern!r}: field {{{text}}}: {exc}") from exc
        field = _Field(text=text, path=path, index=index, type=type_name, offset=offset, slice=bounds, shift=shift)
        return field, suffix

    def _compile_slot(self, slot: Slot) -> Callable[[Any], str]:
        try:
            if slot.type == "number":
                key = slot.style.strip().lower()
                keyword = key if key in ("integer", "percent", "currency") else None
                number_fmt = compile_number_pattern(keyword or slot.style or "#,##0.###")
                return lambda v: number_fmt(v) if isinstance(v, float) else str(v)
            if slot.type in ("date", "time"):
                styles = DATE_STYLES if slot.type == "date" else TIME_STYLES
                key = slot.style.strip().lower()
                if slot.type == "time" and key == "full":
                    raise ValueError("the full time style needs long zone names, which are not supported")
                date_fmt = compile_date_pattern(styles.get(key or "medium", slot.style))
                return lambda v: date_fmt(v) if isinstance(v, datetime) else str(v)
        except ValueError as exc:
            raise ConfigurationError(f"attribute format {self.pattern!r}: {exc}") from exc
        return str

    def _zone(self) -> tzinfo:
        return self._tz if self._tz is not None else local_zone()

    def _arg(self, f: _Field, ds: Any, now: datetime | None, rng: random.Random | None) -> Any:
        """The argument upstream hands MessageFormat for this field (a str, a float or a datetime)."""
        zone = self._zone()
        if f.type == "rnd":
            return f"{(rng or random).getrandbits(32):08X}"
        if f.type == "uuid":
            return str(uuid.uuid4())
        if f.type == "uid":
            return _random_uid()
        if f.path is None:  # now
            current = now if now is not None else datetime.now(zone)
            if current.tzinfo is None:
                current = localize(current, zone)
            current = current.astimezone(zone)
            if f.shift is None:
                return current
            own = _dataset_zone([ds]) or zone  # upstream shifts in the dataset's zone
            return f.shift(current.astimezone(own), own).astimezone(zone)
        chain = _items(ds, f.path)
        if chain is None:
            return None  # a sequence on the way without an item: upstream hands null ("null")
        if f.type in _STRING_TYPES:
            s = _string_value(ds, f.path, f.index)
            if s is None:
                # as upstream: no value is "" for the plain value, upper and slice, null for the others
                return "" if f.type in ("none", "upper", "slice") else None
            if f.type == "upper":
                return s.upper()
            if f.type == "slice":
                return s[f.slice[0] : f.slice[1]]
            if f.type == "hash":
                return java_string_hash(s)
            if f.type == "md5":
                return md5_base32(s)
            if f.type == "urlencoded":
                return _url_encode(s)
            return s
        if f.type == "offset":
            return str(_int_value(ds, f.path, f.index) + f.offset)
        if f.type == "number":
            return _float_value(ds, f.path, f.index)
        own = _dataset_zone(chain) or zone
        dt = _date_value(ds, f.path, f.index, own)
        if dt is None:
            if f.shift is not None:  # upstream fails here (NullPointerException)
                raise ValueError("no date or time value to shift")
            return None
        return (f.shift(dt, own) if f.shift is not None else dt).astimezone(zone)

    def _render(
        self, dataset: Any, now: datetime | None, rng: random.Random | None, *, for_path: bool
    ) -> str:
        args: list[Any] = []
        for f in self._fields:
            try:
                args.append(self._arg(f, dataset, now, rng))
            except ValueError as exc:
                message = f"format {self.pattern!r}: field {{{f.text}}}: {exc}"
                raise (UnsafePathError(f"storage path {message}") if for_path else ValueError(message)) from exc
        out: list[str] = []
        for seg in self._segments:
            if isinstance(seg, str):
                out.append(seg)
                continue
            if seg.index >= len(args):
                out.append(f"{{{seg.index}}}")  # MessageFormat prints a missing argument as {n}
                continue
            arg = args[seg.index]
            text = "null" if arg is None else self._formatters[id(seg)](arg)
            f = self._fields[seg.index]
            if for_path and f.type in ("none", "upper", "slice") and seg.type == "" and any(
                c in text for c in ("/", "\\", "\x00")
            ):
                raise UnsafePathError(
                    f"storage path format {self.pattern!r}: value {text!r} of field {{{f.text}}} "
                    "contains a path separator; refusing to build a path from it"
                )
            out.append(text)
        return "".join(out)

    def format(
        self,
        dataset: Dataset | Any,
        *,
        now: datetime | None = None,
        rng: random.Random | None = None,
    ) -> str:
        """Apply the pattern to ``dataset`` (a pydicom :class:`~pydicom.dataset.Dataset`).

        Args:
            dataset: where attribute values come from.
            now: the time for ``{now,...}`` fields (default: the current time).
            rng: random source for ``{rnd}`` (default: the ``random`` module).
        """
        return self._render(dataset, now, rng, for_path=False)

    def format_path(
        self,
        dataset: Dataset | Any,
        *,
        now: datetime | None = None,
        rng: random.Random | None = None,
    ) -> str:
        """Apply the pattern to build a relative storage path that cannot leave its folder.

        As upstream, an absent value gives an empty string (``null`` for ``hash``, ``md5``,
        ``urlencoded``, dates and fields under a sequence without an item), so ``a/{00100020}/b`` may give
        ``a//b``, an empty path segment, which file systems read as ``a/b``. Refused with
        :class:`~dcm_exporter.errors.UnsafePathError`, where upstream would write outside the storage or
        fail: a value taken from the dataset that contains ``/``, ``\\`` or NUL; a path that is empty,
        absolute (an empty first segment) or ends with a separator (an empty last segment: a folder, not a
        file); a ``.`` or ``..`` segment.
        """
        path = self._render(dataset, now, rng, for_path=True)
        if not path or path.startswith(("/", "\\")):
            raise UnsafePathError(
                f"storage path {path!r} (format {self.pattern!r}) is not a relative path: an empty first "
                "component would make it absolute"
            )
        if "\x00" in path:
            raise UnsafePathError(f"storage path {path!r} (format {self.pattern!r}) contains NUL")
        segments = path.replace("\\", "/").split("/")
        if any(seg in ("..", ".") for seg in segments) or segments[-1] == "":
            raise UnsafePathError(
                f"storage path {path!r} (format {self.pattern!r}) has a '.' or '..' segment or names a folder"
            )
        return path
