"""Java's text formats as dcm4che's ``AttributesFormat`` uses them (internal; a leaf of the transports).

``java.text.MessageFormat`` (the pattern as a whole, with its quoting), ``SimpleDateFormat`` and
``DecimalFormat`` in the ``en_US`` locale (the CLDR data of Java 21, dcm4chee-arc's JVM),
``java.util.GregorianCalendar``'s reading of
local times that a DST change makes ambiguous or skips, ISO 8601 periods and durations
(``java.time.Period`` / ``Duration``) applied as ``ZonedDateTime.plus`` applies them, and the text dcm4che
gives an FL/FD value (``Float.toString`` / ``Double.toString`` as specified since Java 19, trimmed by
dcm4che's ``StringUtils.formatDS``). Only what attribute formats need; what is not supported raises
``ValueError`` (the caller names the pattern).
"""

from __future__ import annotations

import calendar
import math
import re
import struct
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import attrs

from dcm_exporter.errors import ConfigurationError

__all__ = [
    "DATE_STYLES",
    "TIME_STYLES",
    "Slot",
    "compile_date_pattern",
    "compile_duration",
    "compile_number_pattern",
    "compile_period",
    "dicom_ds_text",
    "java_float_text",
    "localize",
    "parse_message_format",
    "to_binary32",
]

# --- Java time zones: resolving local times, names ---------------------------------------------------


def localize(wall: datetime, zone: tzinfo) -> datetime:
    """``wall`` (naive) in ``zone`` as ``GregorianCalendar`` reads it: ambiguous or skipped wall times take
    the zone's standard offset, and the result is normalised (a skipped 02:30 becomes 03:30 summer time)."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    chosen = first
    if first.utcoffset() != second.utcoffset():
        chosen = first if not first.dst() else second
    return chosen.astimezone(UTC).astimezone(zone)


# --- Java SimpleDateFormat (en_US) ---------------------------------------------------------------------

_DATE_LETTERS = re.compile(r"([A-Za-z])\1*")
_JAVA_DATE_LETTERS = frozenset("GyYMLwWDdFEuaHkKhmsSzZX")


def _sunday_on_or_before(d: date) -> date:
    return d - timedelta(days=(d.weekday() + 1) % 7)


def _week_fields(d: date) -> tuple[int, int]:
    """(week year, week of year) in en_US: weeks start on Sunday, week 1 is the week holding 1 January."""
    next_start = _sunday_on_or_before(date(d.year + 1, 1, 1))
    if d >= next_start:
        return d.year + 1, 1
    start = _sunday_on_or_before(date(d.year, 1, 1))
    return d.year, (d - start).days // 7 + 1


def _offset_text(dt: datetime, colon: bool) -> str:
    off = dt.utcoffset() or timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{':' if colon else ''}{minutes % 60:02d}"


def _year(value: int, count: int) -> str:
    return f"{value % 100:02d}" if count == 2 else str(value).zfill(count)


def _date_field(letter: str, count: int, dt: datetime) -> str:
    if letter == "y":
        return _year(dt.year, count)
    if letter == "Y":
        return _year(_week_fields(dt.date())[0], count)
    if letter in ("M", "L"):
        if count >= 4:
            return calendar.month_name[dt.month]
        if count == 3:
            return calendar.month_abbr[dt.month]
        return str(dt.month).zfill(count)
    if letter == "w":
        return str(_week_fields(dt.date())[1]).zfill(count)
    if letter == "W":
        first = dt.replace(day=1).date()
        return str((dt.day - 1 + (first.weekday() + 1) % 7) // 7 + 1).zfill(count)
    if letter == "F":
        return str((dt.day - 1) // 7 + 1).zfill(count)
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
        return _offset_text(dt, colon=False)
    if letter == "X":
        if (dt.utcoffset() or timedelta(0)) == timedelta(0):
            return "Z"
        text = _offset_text(dt, colon=count >= 3)
        return text[:3] if count == 1 else text
    if letter == "z":
        return dt.tzname() or ("GMT" + _offset_text(dt, colon=True))
    raise ValueError(f"unsupported date pattern letter {letter!r}")  # pragma: no cover - checked when compiled


def compile_date_pattern(pattern: str) -> Callable[[datetime], str]:
    """Compile a Java ``SimpleDateFormat`` pattern (``'`` quoting, ``en_US`` names) to a formatter."""
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
            end = i + 1
            buf: list[str] = []
            while True:
                if end >= n:
                    raise ValueError(f"unterminated quote in date pattern {pattern!r}")
                if pattern[end] == "'":
                    if end + 1 < n and pattern[end + 1] == "'":
                        buf.append("'")
                        end += 2
                        continue
                    break
                buf.append(pattern[end])
                end += 1
            parts.append("".join(buf))
            i = end + 1
        elif c.isascii() and c.isalpha():
            m = _DATE_LETTERS.match(pattern, i)
            assert m is not None
            count = len(m.group(0))
            if c not in _JAVA_DATE_LETTERS:
                raise ValueError(f"illegal pattern character {c!r} in date pattern {pattern!r}")
            if c == "z" and count >= 4:
                raise ValueError(f"long zone names (zzzz) are not supported in date pattern {pattern!r}")
            if c == "X" and count > 3:
                raise ValueError(f"invalid ISO 8601 offset {'X' * count!r} in date pattern {pattern!r}: X to XXX")
            parts.append((c, count))
            i = m.end()
        else:
            parts.append(c)
            i += 1

    def fmt(dt: datetime) -> str:
        return "".join(p if isinstance(p, str) else _date_field(p[0], p[1], dt) for p in parts)

    return fmt


# English (Java 9+ CLDR, en_US) styles of MessageFormat's date and time sub-formats
DATE_STYLES = {"short": "M/d/yy", "medium": "MMM d, y", "long": "MMMM d, y", "full": "EEEE, MMMM d, y"}
# Java 20 and later (CLDR 42; the Java 21 of dcm4chee-arc's default images) put U+202F NARROW NO-BREAK SPACE
# before the AM/PM marker; Java 17 (its ``jdk17`` images) a space.
TIME_STYLES = {"short": "h:mm\u202fa", "medium": "h:mm:ss\u202fa", "long": "h:mm:ss\u202fa z"}


# --- Java DecimalFormat --------------------------------------------------------------------------------


def _split_affixes(pattern: str) -> tuple[str, str, str]:
    """(prefix, number part, suffix) of one DecimalFormat sub-pattern; quoted text is literal."""
    prefix: list[str] = []
    number: list[str] = []
    suffix: list[str] = []
    i = 0
    phase = 0  # 0 prefix, 1 number, 2 suffix
    while i < len(pattern):
        c = pattern[i]
        if c == "'":
            end = pattern.find("'", i + 1)
            if end < 0:
                raise ValueError(f"unterminated quote in number pattern {pattern!r}")
            text = "'" if end == i + 1 else pattern[i + 1 : end]
            (prefix if phase == 0 else suffix).append(text)
            if phase == 1:
                phase = 2
            i = end + 1
            continue
        in_number = c in "#0,." or (c == "E" and phase == 1)
        if phase < 2 and in_number:
            phase = 1
            number.append(c)
            if c == "E":
                i += 1
                while i < len(pattern) and pattern[i] == "0":
                    number.append("0")
                    i += 1
                phase = 2
                continue
        elif phase == 0:
            prefix.append(c)
        else:
            phase = 2
            suffix.append(c)
        i += 1
    return "".join(prefix), "".join(number), "".join(suffix)


def _round_digits(value: Decimal, places: int) -> Decimal:
    # the default context holds 28 digits: a double near 1e308 has 309 integer digits, so quantize
    # needs a context as wide as the result or it raises InvalidOperation
    with localcontext() as ctx:
        ctx.prec = max(ctx.prec, value.adjusted() + places + 2)
        return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


@attrs.frozen
class _NumberLayout:
    """The digit counts ``DecimalFormat.applyPattern`` derives from the number part of a pattern."""

    min_int: int
    max_int: int  # only meaningful with an exponent
    min_frac: int
    max_frac: int
    grouping: int
    min_exp: int  # 0: no exponent


def _number_layout(number: str, pattern: str) -> _NumberLayout:
    # Java counts '#' before the first '0' as "left" digits, '0' as zero digits and '#' after them as
    # "right" digits, wherever the decimal point is; a pattern without any '0' but with a point gets one
    # (so "#.##" behaves as "0.##" and ".##" as ".0#")
    mantissa, _, exponent = number.partition("E")
    left = zero = right = 0
    decimal_pos = -1
    grouping = -1
    for c in mantissa:
        if c == "#":
            if zero:
                right += 1
            else:
                left += 1
            if grouping >= 0 and decimal_pos < 0:
                grouping += 1
        elif c == "0":
            if right:
                raise ValueError(f"unexpected '0' after '#' in number pattern {pattern!r}")
            zero += 1
            if grouping >= 0 and decimal_pos < 0:
                grouping += 1
        elif c == ",":
            grouping = 0
        elif c == ".":
            if decimal_pos >= 0:
                raise ValueError(f"multiple decimal separators in number pattern {pattern!r}")
            decimal_pos = left + zero + right
    if zero == 0 and left > 0 and decimal_pos >= 0:
        n = decimal_pos or 1
        right = left - n
        left = n - 1
        zero = 1
    total = left + zero + right
    effective_pos = decimal_pos if decimal_pos >= 0 else total
    min_int = effective_pos - left
    max_frac = total - decimal_pos if decimal_pos >= 0 else 0
    min_frac = left + zero - decimal_pos if decimal_pos >= 0 else 0
    return _NumberLayout(min_int=min_int, max_int=left + min_int, min_frac=min_frac, max_frac=max_frac,
                         grouping=max(grouping, 0), min_exp=len(exponent))


def _significant(dec: Decimal, digits: int) -> tuple[str, int]:
    """``dec`` (> 0) rounded to ``digits`` significant digits: (digit string without trailing zeros, position
    of the decimal point relative to it), as Java's ``DigitList`` holds it. Half-even, except that Java rounds
    a tie of a whole number up (``0E0`` gives ``3E1`` for 25, but ``2E0`` for 2.5)."""
    rounding = ROUND_HALF_UP if dec == dec.to_integral_value() else ROUND_HALF_EVEN
    q = dec.quantize(Decimal(1).scaleb(dec.adjusted() - digits + 1), rounding=rounding)
    _, tup, exp = q.as_tuple()
    assert isinstance(exp, int)
    return "".join(map(str, tup)).rstrip("0"), len(tup) + exp


def compile_number_pattern(pattern: str) -> Callable[[float], str]:
    """Compile a ``DecimalFormat`` pattern: ``#``, ``0``, ``,``, ``.``, an exponent ``E0``, literal prefix
    and suffix (``%`` and ``‰`` scale the value), and an optional ``;negative`` sub-pattern."""
    if pattern == "integer":
        pattern = "#,##0"
    elif pattern == "percent":
        pattern = "#,##0%"
    elif pattern == "currency":
        raise ValueError("currency number formats are not supported")
    positive, _, negative = pattern.partition(";")
    prefix, number, suffix = _split_affixes(positive)
    neg_prefix, neg_suffix = "-" + prefix, suffix
    if negative:
        neg_prefix, _, neg_suffix = _split_affixes(negative)
    if "¤" in prefix + suffix:
        raise ValueError("currency number formats are not supported")
    if not re.fullmatch(r"[#0,]*(\.[#0,]*)?(E0+)?", number) or not re.search(r"[#0]", number):
        raise ValueError(f"malformed number pattern {pattern!r}")
    layout = _number_layout(number, pattern)
    scale = 100 if "%" in prefix + suffix else 1000 if "‰" in prefix + suffix else 1

    def fixed(dec: Decimal) -> str:
        q = _round_digits(dec, layout.max_frac)
        ip, _, fp = f"{q:f}".partition(".")
        fp = fp.rstrip("0").ljust(layout.min_frac, "0")
        ip = ip.lstrip("0").rjust(layout.min_int, "0")
        g = layout.grouping
        if g and len(ip) > g:
            groups: list[str] = []
            while len(ip) > g:
                groups.insert(0, ip[-g:])
                ip = ip[:-g]
            ip = ",".join([ip, *groups]) if ip else ",".join(groups)
        if not fp and not ip:
            return "0"
        return ip + ("." + fp if fp else "")

    def scientific(dec: Decimal) -> str:
        engineering = layout.max_int > 1 and layout.max_int > layout.min_int
        if dec == 0:
            digits, point = "", 0
        else:
            digits, point = _significant(dec, layout.max_int + layout.max_frac)
        if dec == 0:
            exponent = 0
            int_digits = 1 if engineering else layout.min_int
        else:
            if engineering:
                m = layout.max_int
                exponent = ((point - 1) // m) * m if point >= 1 else -((-(point - m)) // m) * m
            else:
                exponent = point - layout.min_int
            int_digits = point - exponent
        min_digits = max((1 if engineering else layout.min_int) + layout.min_frac, int_digits)
        total = max(len(digits), min_digits)
        out: list[str] = []
        for i in range(total):
            if i == int_digits:
                out.append(".")
            out.append(digits[i] if i < len(digits) else "0")
        if total == int_digits == 0:
            out.append("0")
        exp_text = str(abs(exponent)).zfill(layout.min_exp)
        return "".join(out) + "E" + ("-" if exponent < 0 else "") + exp_text

    def fmt(value: float) -> str:
        if value != value:
            return "NaN"
        negative_value = value < 0 or (value == 0 and math.copysign(1.0, value) < 0)
        if math.isinf(value):
            text = "∞"
        else:
            dec = abs(Decimal(value * scale))  # Java scales the double first: 0.005 -> 0.5, a tie
            text = scientific(dec) if layout.min_exp else fixed(dec)
        return (neg_prefix + text + neg_suffix) if negative_value else (prefix + text + suffix)

    return fmt


# --- Java Float.toString / Double.toString, dcm4che's formatDS ------------------------------------------


def to_binary32(value: float) -> float:
    """``value`` rounded to the nearest binary32 number, as Java's ``(float)`` cast rounds (overflow gives an
    infinity; ``struct`` refuses it instead)."""
    try:
        return float(struct.unpack("<f", struct.pack("<f", value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


def _binary_parts(value: float, single: bool) -> tuple[int, int, bool]:
    """(significand, binary exponent, whether the gap below is half the gap above) of a finite ``value``
    > 0 taken as an IEEE 754 binary32 (``single``) or binary64 number."""
    if single:
        (bits,) = struct.unpack("<I", struct.pack("<f", value))
        frac_bits, bias = 23, 127
        biased, fraction = bits >> 23 & 0xFF, bits & 0x7FFFFF
    else:
        (bits,) = struct.unpack("<Q", struct.pack("<d", value))
        frac_bits, bias = 52, 1023
        biased, fraction = bits >> 52 & 0x7FF, bits & 0xFFFFFFFFFFFFF
    if biased == 0:  # subnormal: evenly spaced down to zero
        return fraction, 1 - bias - frac_bits, False
    return fraction | 1 << frac_bits, biased - bias - frac_bits, fraction == 0 and biased > 1


def _in_interval(c: int, q: int, lo: Fraction, hi: Fraction, closed: bool) -> bool:
    d = c * Fraction(10) ** q
    return lo <= d <= hi if closed else lo < d < hi


def _shortest_decimal(value: float, single: bool) -> tuple[int, int]:
    """The decimal ``c * 10**q`` (``c`` without trailing zeros) that Java 19+ prints for ``value`` > 0.

    Java's rule (the ``Double.toString`` / ``Float.toString`` specification since JDK 19): of the decimals
    that round to ``value`` (round half to even), take those of the least length; when that length is 1,
    those of length 1 or 2; then the one closest to ``value``, and of two equally close, the one whose
    last digit is even. So ``Double.MIN_VALUE`` is ``4.9E-324``, where Python's ``repr`` gives ``5e-324``.
    """
    m, k, narrow_below = _binary_parts(value, single)
    exact = Fraction(m) * Fraction(2) ** k
    half_gap = Fraction(2) ** (k - 1)
    lo = exact - (half_gap / 2 if narrow_below else half_gap)
    hi = exact + half_gap
    closed = m % 2 == 0  # a tie rounds to the even significand
    e10 = math.floor(math.log10(value))
    while Fraction(10) ** e10 > exact:  # log10 may be off by one near a power of ten
        e10 -= 1
    while Fraction(10) ** (e10 + 1) <= exact:
        e10 += 1

    def in_range(q: int) -> list[tuple[int, int]]:
        """The multiples of 10**q that round to ``value``: the decimals of length <= e10 - q + 1."""
        step = Fraction(10) ** q
        return [(c, q) for c in range(math.floor(lo / step), math.floor(hi / step) + 1)
                if _in_interval(c, q, lo, hi, closed)]

    q = e10
    candidates = in_range(q)
    while not candidates:
        q -= 1
        candidates = in_range(q)
    if q == e10:  # the shortest have one digit: those with two compete (they include the one-digit ones)
        candidates = in_range(q - 1)

    def distance(cq: tuple[int, int]) -> tuple[Fraction, int]:
        c, q = cq
        return abs(c * Fraction(10) ** q - exact), c % 2

    c, q = min(candidates, key=distance)
    while c and c % 10 == 0:
        c //= 10
        q += 1
    return c, q


def _repr_decimal(value: float) -> tuple[int, int]:
    """``repr``'s digits of a binary64 ``value`` > 0 as ``(c, q)``: Python picks the shortest decimal that
    rounds back, the closest of those, which is Java's pick too whenever it has two digits or more."""
    mantissa, _, exponent = f"{value!r}".partition("e")
    whole, _, fraction = mantissa.partition(".")
    c = int(whole + fraction)
    q = int(exponent or 0) - len(fraction)
    while c and c % 10 == 0:
        c //= 10
        q += 1
    return c, q


def java_float_text(value: float, *, single: bool = False) -> str:
    """``Double.toString(value)`` (or ``Float.toString`` of the binary32 ``value`` with ``single``) as
    Java 19 and later give it: ``1.0E-5``, ``0.1``, ``1.0E7``, ``-0.0``, ``NaN``, ``Infinity``.

    From 10^-3 up to 10^7 the plain form with at least one fraction digit (``100.0``), otherwise one digit,
    the point, at least one more digit and ``E`` with the exponent (``1.2E-4``). Java 17 and earlier
    sometimes print more digits than needed (``3.0000001E10`` for the float ``3.0E10``).

    >>> java_float_text(1e-05), java_float_text(100.0), java_float_text(0.1, single=True)
    ('1.0E-5', '100.0', '0.1')
    """
    if single:
        value = to_binary32(value)
    if value != value:
        return "NaN"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if math.isinf(value):
        return sign + "Infinity"
    if value == 0:
        return sign + "0.0"
    c, q = _repr_decimal(abs(value)) if not single else (0, 0)
    if c < 10:  # a binary32 value, or one digit, where Java's rule differs from repr's
        c, q = _shortest_decimal(abs(value), single)
    digits = str(c)
    exponent = q + len(digits) - 1  # of the first digit
    if -3 <= exponent < 7:
        if exponent < 0:
            return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
        whole = digits[: exponent + 1].ljust(exponent + 1, "0")
        return f"{sign}{whole}.{digits[exponent + 1 :] or '0'}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exponent}"


def dicom_ds_text(value: float, *, single: bool = False) -> str:
    """The text dcm4che's ``Attributes.getString`` gives an FL (``single``) or FD value: Java's
    ``Float.toString`` / ``Double.toString`` trimmed by ``StringUtils.formatDS``.

    ``formatDS`` drops a ``.0`` before the end or before ``E`` (``1``, ``1E-5``, ``-0``) and, for a double
    only, cuts a text longer than 16 characters to 16 — by dropping characters, not by rounding
    (``0.30000000000000004`` gives ``0.30000000000000``; ``1.2345678901234568E-300`` gives
    ``1.234567890E-300``).

    >>> dicom_ds_text(1e-05), dicom_ds_text(1.0), dicom_ds_text(0.30000000000000004)
    ('1E-5', '1', '0.30000000000000')
    """
    text = java_float_text(value, single=single)
    if text.endswith(".0"):
        return text[:-2]
    e = text.find("E", max(len(text) - 5, 0))
    if e > 0 and text[e - 2 : e] == ".0":
        return text[: e - 2] + text[e:]
    excess = 0 if single else len(text) - 16
    if excess > 0:
        return text[:16] if e < 0 else text[: e - excess] + text[e:]
    return text


# --- Java MessageFormat ----------------------------------------------------------------------------------


@attrs.frozen
class Slot:
    """A ``{n[,type[,style]]}`` element of the MessageFormat pattern."""

    index: int
    type: str  # "" (plain), "number", "date", "time"
    style: str


def parse_message_format(text: str, pattern: str) -> list[str | Slot]:
    """Parse a Java ``MessageFormat`` pattern into literal strings and slots, with Java's quoting rules."""
    out: list[str | Slot] = []
    raw: list[str] = []
    segments: list[list[str]] = [[], [], []]
    part = -1  # -1 raw text; 0 index, 1 type, 2 style
    in_quote = False
    braces = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if part < 0:
            if c == "'":
                if i + 1 < n and text[i + 1] == "'":
                    raw.append("'")
                    i += 1
                else:
                    in_quote = not in_quote
            elif c == "{" and not in_quote:
                part = 0
                if raw:
                    out.append("".join(raw))
                    raw.clear()
            else:
                raw.append(c)
        elif in_quote:
            segments[part].append(c)
            if c == "'":
                in_quote = False
        elif c == "," and part < 2:
            part += 1
        elif c == "{":
            braces += 1
            segments[part].append(c)
        elif c == "}":
            if braces == 0:
                out.append(_make_slot(segments, pattern))
                segments = [[], [], []]
                part = -1
            else:
                braces -= 1
                segments[part].append(c)
        elif c == " " and part == 1 and not segments[1]:
            pass  # MessageFormat skips leading spaces of the type
        else:
            if c == "'":
                in_quote = True
            segments[part].append(c)
        i += 1
    if part >= 0:
        raise ConfigurationError(f"attribute format {pattern!r}: unmatched braces in the pattern")
    if raw:
        out.append("".join(raw))
    return out


def _make_slot(segments: list[list[str]], pattern: str) -> Slot:
    index_text = "".join(segments[0])
    try:
        index = int(index_text)
    except ValueError:
        raise ConfigurationError(f"attribute format {pattern!r}: can't parse argument number {index_text!r}") from None
    type_name = "".join(segments[1]).strip().lower()
    if type_name not in ("", "number", "date", "time", "choice"):
        raise ConfigurationError(f"attribute format {pattern!r}: unknown format type {type_name!r}")
    if type_name == "choice":
        raise ConfigurationError(f"attribute format {pattern!r}: 'choice' fields are not supported")
    return Slot(index=index, type=type_name, style="".join(segments[2]))


# --- ISO 8601 shifts of dateP… and timeP… -----------------------------------------------------------------

_PERIOD = re.compile(r"([-+]?)P(?:([-+]?\d+)Y)?(?:([-+]?\d+)M)?(?:([-+]?\d+)W)?(?:([-+]?\d+)D)?", re.I)
_DURATION = re.compile(
    r"([-+]?)P(?:([-+]?\d+)D)?(?:T(?:([-+]?\d+)H)?(?:([-+]?\d+)M)?(?:([-+]?\d+)(?:[.,](\d{0,9}))?S)?)?", re.I
)


def compile_period(text: str) -> Callable[[datetime, tzinfo], datetime]:
    m = _PERIOD.fullmatch(text)
    if not m or not any(m.group(k) for k in range(2, 6)):
        raise ValueError(f"{text!r} is not an ISO 8601 period (e.g. P1D, P-1M, P1Y2M3W4D)")
    sign = -1 if m[1] == "-" else 1
    years, months, weeks, days = (sign * int(m[k] or 0) for k in range(2, 6))

    def add_months(wall: datetime, count: int) -> datetime:
        year, month = divmod(wall.year * 12 + (wall.month - 1) + count, 12)
        return wall.replace(year=year, month=month + 1, day=min(wall.day, calendar.monthrange(year, month + 1)[1]))

    def shift(dt: datetime, zone: tzinfo) -> datetime:
        # upstream adds the years, then the months, then the days to a Calendar, each step clamping the day
        # of the month (P1Y-1M from 29 Feb 2024 gives 28 Jan 2025, where Period.plus would give the 29th)
        wall = add_months(add_months(dt.replace(tzinfo=None), years * 12), months)
        wall += timedelta(days=weeks * 7 + days)
        for fold in (0, 1):  # as ZonedDateTime.plus: in an overlap, keep the offset held before if valid
            kept = wall.replace(tzinfo=zone, fold=fold)
            if kept.utcoffset() == dt.utcoffset() and kept.astimezone(UTC).astimezone(zone) == kept:
                return kept
        return localize(wall, zone)

    return shift


def compile_duration(text: str) -> Callable[[datetime, tzinfo], datetime]:
    """A ``timeP…`` shift: upstream adds the duration's whole seconds (``Duration.getSeconds()``, the floor:
    ``PT0.5S`` adds nothing, ``PT-0.5S`` takes one second) to the instant."""
    m = _DURATION.fullmatch(text)
    if not m or not any(m.group(k) for k in range(2, 6)) or text.upper().endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration (e.g. PT1H, -PT30M, P1DT2H)")
    sign = -1 if m[1] == "-" else 1
    seconds_sign = -1 if (m[5] or "").startswith("-") else 1
    exact = Decimal(int(m[2] or 0) * 86400 + int(m[3] or 0) * 3600 + int(m[4] or 0) * 60 + int(m[5] or 0))
    exact += Decimal("0." + (m[6] or "0")) * seconds_sign
    delta = timedelta(seconds=math.floor(sign * exact))

    def shift(dt: datetime, zone: tzinfo) -> datetime:
        return (dt.astimezone(UTC) + delta).astimezone(zone)

    return shift
