"""Did-you-mean hints for names the user typed that the configuration does not have."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean STORESCP?)`` for the known names closest to ``name``, or ``""``.

    A name that differs only in letter case is always offered first: AE titles and exporter ids are
    case-sensitive in dcm4che, and ``dicom:storescp`` for ``STORESCP`` is the common slip.
    """
    names = sorted(set(known))
    same_case = [n for n in names if n.lower() == name.lower() and n != name]
    by_lower: dict[str, str] = {}
    for n in names:
        by_lower.setdefault(n.lower(), n)
    close = [by_lower[m] for m in difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)]
    offer = [*same_case, *(n for n in close if n not in same_case and n != name)][:3]
    if not offer:
        return ""
    return f" (did you mean {' or '.join(offer)}?)"
