"""dcm4che's attribute format: the syntax of ``dcmStoragePathFormat`` and similar patterns.

A pattern is literal text with ``{...}`` fields. Each field names an attribute — a tag in hex
(``0020000D``) or a DICOM keyword (``StudyInstanceUID``), a path into sequences separated by ``.``
(the first item of each sequence is used), optionally a 0-based value index ``[n]`` — or one of the
pseudo attributes ``now`` and ``rnd``; then optionally ``,type`` and type arguments:

==================  ==================================================================================
field               value
==================  ==================================================================================
``{tag}``           the value as text; ``null`` when absent (as Java's ``MessageFormat`` writes it)
``{tag,hash}``      Java's 32-bit ``String.hashCode()`` of the value as 8 upper-case hex digits
``{tag,md5}``       MD5 of the UTF-8 value as 26 characters of ``0-9a-v`` (dcm4che's own base-32 layout)
``{tag,urlencoded}``  the value ``application/x-www-form-urlencoded`` (Java ``URLEncoder``)
``{tag,offset,n}``  the value as integer plus ``n`` (0 when absent)
``{tag,number[,p]}``  the value as number, in ``DecimalFormat`` pattern ``p`` (default ``#,##0.###``)
``{tag,date,p}``    a DA/DT value in ``SimpleDateFormat`` pattern ``p``; ``time`` likewise for TM
``{now,date,p}``    the current time in pattern ``p``, e.g. ``{now,date,yyyy/MM/dd}``
``{rnd}``           a random 32-bit number as 8 upper-case hex digits
``{rnd,uuid}``      a random UUID; ``{rnd,uid}`` a random ``2.25.`` UID
==================  ==================================================================================

Literal text follows ``MessageFormat``'s quoting: ``''`` is one quote and ``'...'`` is quoted text.
``choice`` sub-formats and locale-named styles other than the English defaults are not supported
(a :class:`~dcm_exporter.errors.ConfigurationError` says so).

    >>> from pydicom import Dataset
    >>> ds = Dataset()
    >>> ds.StudyInstanceUID = "1.2.3"
    >>> AttributesFormat("{0020000D,hash}/{StudyInstanceUID}").format(ds)
    '02C82A3A/1.2.3'
"""

from __future__ import annotations

import calendar
import hashlib
import random
import re
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import attrs

from dcm_exporter._imports import PYDICOM, require
from dcm_exporter.errors import ConfigurationError, UnsafePathError

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = ["DEFAULT_STORAGE_PATH_FORMAT", "AttributesFormat", "java_string_hash", "md5_base32"]

#: dcm4chee-arc's path format of a storage without ``dcmStoragePathFormat``.
DEFAULT_STORAGE_PATH_FORMAT = "{now,date,yyyy/MM/dd}/{0020000D,hash}/{0020000E,hash}/{00080018,hash}"

_TYPES = frozenset(
    {"none", "number", "offset", "date", "time", "choice", "hash", "md5", "urlencoded", "rnd", "uuid", "uid"}
)
_B32 = "0123456789abcdefghijklmnopqrstuv"
_MASK64 = (1 << 64) - 1


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
    data = text.encode("utf-16-be")
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


# --- Java SimpleDateFormat subset ------------------------------------------------------------------

_DATE_LETTERS = re.compile(r"([A-Za-z])\1*")


def _tz_offset(dt: datetime, colon: bool) -> str:
    off = dt.utcoffset() or timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    sep = ":" if colon else ""
    return f"{sign}{minutes // 60:02d}{sep}{minutes % 60:02d}"


def _date_field(letter: str, count: int, dt: datetime) -> str:
    if letter == "y" or letter == "Y":
        return f"{dt.year % 100:02d}" if count == 2 else str(dt.year).zfill(count)
    if letter in ("M", "L"):
        if count >= 4:
            return calendar.month_name[dt.month]
        if count == 3:
            return calendar.month_abbr[dt.month]
        return str(dt.month).zfill(count)
    if letter == "d":
        return str(dt.day).zfill(count)
    if letter == "D":
        return str(dt.timetuple().tm_yday).zfill(count)
    if letter == "H":
        return str(dt.hour).zfill(count)
    if letter == "k":
        return str(dt.hour or 24).zfill(count)
    if letter == "K":
        return str(dt.hour % 12).zfill(count)
    if letter == "h":
        return str(dt.hour % 12 or 12).zfill(count)
    if letter == "m":
        return str(dt.minute).zfill(count)
    if letter == "s":
        return str(dt.second).zfill(count)
    if letter == "S":
        return str(dt.microsecond // 1000).zfill(count)
    if letter == "E":
        return calendar.day_name[dt.weekday()] if count >= 4 else calendar.day_abbr[dt.weekday()]
    if letter == "u":
        return str(dt.isoweekday()).zfill(count)
    if letter == "a":
        return "AM" if dt.hour < 12 else "PM"
    if letter == "G":
        return "AD"
    if letter == "Z":
        return _tz_offset(dt, colon=False)
    if letter == "X":
        if (dt.utcoffset() or timedelta(0)) == timedelta(0):
            return "Z"
        text = _tz_offset(dt, colon=count >= 3)
        return text[:3] if count == 1 else text
    if letter == "z":
        return dt.tzname() or _tz_offset(dt, colon=True)
    raise ValueError(f"unsupported date pattern letter {letter!r}")


_SUPPORTED_DATE_LETTERS = frozenset("yYMLdDHkKhmsSEuaGZXz")


def _compile_date_pattern(pattern: str) -> Callable[[datetime], str]:
    """Compile a Java ``SimpleDateFormat`` pattern (common letters, ``'`` quoting) to a formatter."""
    parts: list[str | tuple[str, int]] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            if i + 1 < n and pattern[i + 1] == "'":
                parts.append("'")
                i += 2
                continue
            end = pattern.find("'", i + 1)
            if end < 0:
                raise ValueError(f"unterminated quote in date pattern {pattern!r}")
            parts.append(pattern[i + 1 : end].replace("''", "'"))
            i = end + 1
        elif c.isascii() and c.isalpha():
            m = _DATE_LETTERS.match(pattern, i)
            assert m is not None
            if c not in _SUPPORTED_DATE_LETTERS:
                raise ValueError(f"unsupported letter {c!r} in date pattern {pattern!r}")
            parts.append((c, len(m.group(0))))
            i = m.end()
        else:
            parts.append(c)
            i += 1

    def fmt(dt: datetime) -> str:
        return "".join(p if isinstance(p, str) else _date_field(p[0], p[1], dt) for p in parts)

    return fmt


# English (Java 9+ CLDR) default styles, used when a date/time field names a style, not a pattern
_DATE_STYLES = {"short": "M/d/yy", "medium": "MMM d, y", "long": "MMMM d, y", "full": "EEEE, MMMM d, y"}
_TIME_STYLES = {"short": "h:mm a", "medium": "h:mm:ss a", "long": "h:mm:ss a z", "full": "h:mm:ss a z"}


# --- Java DecimalFormat subset ----------------------------------------------------------------------

def _compile_number_pattern(pattern: str) -> Callable[[float], str]:
    """Compile a ``DecimalFormat`` pattern made of ``#``, ``0``, ``,`` and ``.`` (no prefix/suffix)."""
    if pattern == "integer":
        pattern = "#,##0"
    if not pattern or not re.fullmatch(r"[#0,]*(\.[#0]*)?", pattern) or not re.search(r"[#0]", pattern):
        raise ValueError(f"unsupported number pattern {pattern!r} (supported: '#', '0', ',' and '.')")
    int_part, _, frac_part = pattern.partition(".")
    min_int = int_part.count("0")
    grouping = len(int_part) - int_part.rfind(",") - 1 if "," in int_part else 0
    min_frac = frac_part.count("0")
    max_frac = len(frac_part)

    def fmt(value: float) -> str:
        dec = Decimal(value) if value == value and value not in (float("inf"), float("-inf")) else None
        if dec is None:
            return "NaN" if value != value else ("∞" if value > 0 else "-∞")
        try:
            q = dec.quantize(Decimal(1).scaleb(-max_frac), rounding=ROUND_HALF_EVEN)
        except InvalidOperation:  # pragma: no cover - huge values
            q = dec
        negative = q < 0
        digits = f"{abs(q):f}"
        ip, _, fp = digits.partition(".")
        fp = fp.rstrip("0")
        if len(fp) < min_frac:
            fp = fp.ljust(min_frac, "0")
        ip = ip.lstrip("0")
        ip = ip.rjust(min_int, "0")
        if grouping and len(ip) > grouping:
            groups: list[str] = []
            while len(ip) > grouping:
                groups.insert(0, ip[-grouping:])
                ip = ip[:-grouping]
            ip = ",".join([ip, *groups]) if ip else ",".join(groups)
        text = ip + ("." + fp if fp else "")
        if not text:
            text = "0"
        return ("-" + text) if negative and text.strip("0.,") else text

    return fmt


# --- dataset access -----------------------------------------------------------------------------------


def _parse_tag(name: str, pattern: str) -> int:
    try:
        return int(name, 16)
    except ValueError:
        pass
    require(*PYDICOM)
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(name)
    if tag is None:
        raise ConfigurationError(
            f"attribute format {pattern!r}: {name!r} is neither a hex tag nor a DICOM keyword"
        )
    return int(tag)


def _element_values(ds: Any, path: Sequence[int]) -> list[Any] | None:
    item = ds
    for tag in path[:-1]:
        if item is None or tag not in item:
            return None
        seq = item[tag].value
        item = seq[0] if seq else None
    if item is None or path[-1] not in item:
        return None
    value = item[path[-1]].value
    if value is None or value == "":
        return None
    if isinstance(value, bytes):
        return None
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return list(value)
    return [value]


def _string_value(ds: Any, path: Sequence[int], index: int) -> str | None:
    values = _element_values(ds, path)
    if values is None or index >= len(values):
        return None
    value = values[index]
    if value is None:
        return None
    text = str(value)
    return text if text != "" else None


def _float_value(ds: Any, path: Sequence[int], index: int) -> float:
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
        return int(text.strip())
    except ValueError:
        try:
            return int(float(text))
        except ValueError:
            return 0


def _date_value(ds: Any, path: Sequence[int], index: int, local: tzinfo) -> datetime | None:
    text = _string_value(ds, path, index)
    if text is None:
        return None
    text = text.strip()
    try:
        if re.fullmatch(r"\d{8}", text):
            d = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
            return datetime(d.year, d.month, d.day, tzinfo=local)
        m = re.fullmatch(r"(\d{2}):?(\d{2})?:?(\d{2})?(?:\.(\d{1,6}))?", text)
        if m:
            t = time(int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0),
                     int((m.group(4) or "0").ljust(6, "0")))
            return datetime(1970, 1, 1, t.hour, t.minute, t.second, t.microsecond, tzinfo=local)
        m = re.fullmatch(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?", text)
        if m:
            tz = local
            if m.group(8):
                sign = 1 if m.group(8)[0] == "+" else -1
                tz = timezone(sign * timedelta(hours=int(m.group(8)[1:3]), minutes=int(m.group(8)[3:5])))
            g = [int(m.group(k) or d) for k, d in ((1, 0), (2, 1), (3, 1), (4, 0), (5, 0), (6, 0))]
            micro = int((m.group(7) or "0").ljust(6, "0"))
            return datetime(g[0], g[1], g[2], g[3], g[4], g[5], micro, tzinfo=tz)
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
    formatter: Callable[[Any], str] | None = attrs.field(default=None, eq=False)


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


def _unquote_literal(text: str, pattern: str) -> str:
    """MessageFormat quoting in literal text: ``''`` is a quote, ``'...'`` is quoted text."""
    if "'" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "'":
            out.append(c)
            i += 1
        elif i + 1 < len(text) and text[i + 1] == "'":
            out.append("'")
            i += 2
        else:
            end = text.find("'", i + 1)
            if end < 0:
                raise ConfigurationError(f"attribute format {pattern!r}: unterminated quote in {text!r}")
            out.append(text[i + 1 : end])
            i = end + 1
    return "".join(out)


class AttributesFormat:
    """A compiled dcm4che attribute format pattern.

    Args:
        pattern: the pattern, e.g. ``{now,date,yyyy/MM/dd}/{0020000D,hash}/{00080018,hash}``.
        tz: the zone of ``now`` and of DA/TM values (default: the local zone, as upstream).

    Raises:
        ConfigurationError: the pattern is malformed or uses an unsupported feature.
    """

    def __init__(self, pattern: str, *, tz: tzinfo | None = None) -> None:
        self.pattern = pattern
        self._tz = tz
        tokens = _tokenize(pattern)
        self._literals: list[str] = []
        self._fields: list[_Field] = []
        for i in range(0, len(tokens) - 1, 2):
            self._literals.append(_unquote_literal(tokens[i], pattern))
            self._fields.append(self._compile_field(tokens[i + 1]))
        self._tail = _unquote_literal(tokens[-1], pattern) if len(tokens) % 2 == 1 else ""

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

    def _compile_field(self, text: str) -> _Field:
        pattern = self.pattern
        if not text:
            raise ConfigurationError(f"attribute format {pattern!r}: empty field '{{}}'")
        name, sep, rest = text.partition(",")
        type_name, _, args = rest.partition(",") if sep else ("none", "", "")
        if type_name not in _TYPES:
            raise ConfigurationError(
                f"attribute format {pattern!r}: unknown type {type_name!r} in field {{{text}}}; "
                f"known: {', '.join(sorted(_TYPES - {'none'}))}"
            )
        if type_name == "choice":
            raise ConfigurationError(f"attribute format {pattern!r}: 'choice' fields are not supported")
        path: tuple[int, ...] | None = None
        index = 0
        is_rnd = name.startswith("rnd")
        if is_rnd:
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
        formatter: Callable[[Any], str] | None = None
        try:
            if type_name == "offset":
                offset = int(args)
            elif type_name in ("date", "time"):
                styles = _DATE_STYLES if type_name == "date" else _TIME_STYLES
                date_pattern = args or "medium"
                formatter = _compile_date_pattern(styles.get(date_pattern, date_pattern))
            elif type_name == "number":
                formatter = _compile_number_pattern(args or "#,##0.###")
        except ValueError as exc:
            raise ConfigurationError(f"attribute format {pattern!r}: field {{{text}}}: {exc}") from exc
        return _Field(text=text, path=path, index=index, type=type_name, offset=offset, formatter=formatter)

    def _local(self) -> tzinfo:
        if self._tz is not None:
            return self._tz
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local

    def _value(self, f: _Field, ds: Any, now: datetime | None, rng: random.Random | None) -> tuple[str, bool]:
        """The field's text and whether it comes from the dataset (so must be checked for path safety)."""
        if f.type == "rnd":
            return f"{(rng or random).getrandbits(32):08X}", False
        if f.type == "uuid":
            return str(uuid.uuid4()), False
        if f.type == "uid":
            return _random_uid(), False
        if f.path is None:  # now
            assert f.formatter is not None
            current = now if now is not None else datetime.now(self._local())
            if current.tzinfo is None:
                current = current.replace(tzinfo=self._local())
            if self._tz is not None:
                current = current.astimezone(self._tz)
            return f.formatter(current), False
        if f.type == "none":
            s = _string_value(ds, f.path, f.index)
            return ("null", False) if s is None else (s, True)
        if f.type == "hash":
            s = _string_value(ds, f.path, f.index)
            return ("null" if s is None else java_string_hash(s)), False
        if f.type == "md5":
            s = _string_value(ds, f.path, f.index)
            return ("null" if s is None else md5_base32(s)), False
        if f.type == "urlencoded":
            s = _string_value(ds, f.path, f.index)
            return ("null", False) if s is None else (_url_encode(s), True)
        if f.type == "offset":
            return str(_int_value(ds, f.path, f.index) + f.offset), False
        if f.type == "number":
            assert f.formatter is not None
            return f.formatter(_float_value(ds, f.path, f.index)), False
        # date / time of an attribute
        assert f.formatter is not None
        dt = _date_value(ds, f.path, f.index, self._local())
        return ("null" if dt is None else f.formatter(dt)), False

    def format(
        self,
        dataset: Dataset | Any,
        *,
        now: datetime | None = None,
        rng: random.Random | None = None,
    ) -> str:
        """Apply the pattern to ``dataset`` (a pydicom ``Dataset``).

        Args:
            dataset: where attribute values come from.
            now: the time for ``{now,...}`` fields (default: the current time).
            rng: random source for ``{rnd}`` (default: the ``random`` module).
        """
        out: list[str] = []
        for literal, f in zip(self._literals, self._fields, strict=True):
            out.append(literal)
            out.append(self._value(f, dataset, now, rng)[0])
        out.append(self._tail)
        return "".join(out)

    def format_path(
        self,
        dataset: Dataset | Any,
        *,
        now: datetime | None = None,
        rng: random.Random | None = None,
    ) -> str:
        """Apply the pattern to build a relative storage path that cannot leave its folder.

        Values taken from the dataset must not contain ``/``, ``\\`` or NUL, and no path segment
        may be ``..`` or empty-absolute: otherwise :class:`~dcm_exporter.errors.UnsafePathError`.
        """
        out: list[str] = []
        for literal, f in zip(self._literals, self._fields, strict=True):
            out.append(literal)
            text, from_dataset = self._value(f, dataset, now, rng)
            if from_dataset and any(c in text for c in ("/", "\\", "\x00")):
                raise UnsafePathError(
                    f"storage path format {self.pattern!r}: value {text!r} of field {{{f.text}}} "
                    "contains a path separator; refusing to build a path from it"
                )
            out.append(text)
        out.append(self._tail)
        path = "".join(out)
        if path.startswith(("/", "\\")) or not path:
            raise UnsafePathError(f"storage path {path!r} (format {self.pattern!r}) is not a relative path")
        if "\x00" in path:
            raise UnsafePathError(f"storage path {path!r} (format {self.pattern!r}) contains NUL")
        segments = path.replace("\\", "/").split("/")
        if any(seg in ("..", ".") for seg in segments) or any(seg == "" for seg in segments):
            raise UnsafePathError(
                f"storage path {path!r} (format {self.pattern!r}) has an empty, '.' or '..' segment"
            )
        return path
