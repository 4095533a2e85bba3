"""ISO-8601 durations as dcm4che writes them (``PnDTnHnMn.nS``) <-> :class:`datetime.timedelta`."""

from __future__ import annotations

import re
from datetime import timedelta

from dcm_exporter.errors import ConfigurationError

__all__ = ["format_duration", "parse_duration"]

_DURATION = re.compile(
    r"^(?P<sign>-)?P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$",
    re.IGNORECASE,
)


def parse_duration(text: str) -> timedelta:
    """Parse an ISO-8601 duration such as ``PT30S``, ``P1D`` or ``P1DT2H30M``.

    Years and months are not accepted (their length is not fixed), as in dcm4che.

    Raises:
        ConfigurationError: the text is not such a duration.

    Examples:
        >>> parse_duration("PT10M")
        datetime.timedelta(seconds=600)
    """
    m = _DURATION.match(text.strip())
    if m is None or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise ConfigurationError(f"invalid duration {text!r}: expected ISO-8601 like PT30S, PT10M, P1D")
    parts = m.groupdict()
    seconds = float((parts["seconds"] or "0").replace(",", "."))
    td = timedelta(
        weeks=int(parts["weeks"] or 0),
        days=int(parts["days"] or 0),
        hours=int(parts["hours"] or 0),
        minutes=int(parts["minutes"] or 0),
        seconds=seconds,
    )
    return -td if parts["sign"] else td


def format_duration(value: timedelta) -> str:
    """Format a :class:`~datetime.timedelta` in normalised ISO-8601 form (``P1D``, ``PT30S``, ``PT1H30M``).

    Examples:
        >>> format_duration(timedelta(minutes=90))
        'PT1H30M'
    """
    if value < timedelta(0):
        return "-" + format_duration(-value)
    days = value.days
    rest = value.seconds
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    out = "P"
    if days:
        out += f"{days}D"
    time = ""
    if hours:
        time += f"{hours}H"
    if minutes:
        time += f"{minutes}M"
    if seconds or value.microseconds:
        if value.microseconds:
            frac = f"{value.microseconds:06d}".rstrip("0")
            time += f"{seconds}.{frac}S"
        else:
            time += f"{seconds}S"
    if time:
        out += "T" + time
    if out == "P":
        out = "PT0S"
    return out
