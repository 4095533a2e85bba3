"""Would ``java.net.URI`` accept this ``dcmURI``? (a leaf: imports nothing of the package).

dcm4chee-arc-light reads every ``dcmURI`` with ``new java.net.URI(value)``; one value it cannot parse makes the
whole archive device fail to load (``java.net.URISyntaxException``). This module answers the same question in
Python, following the grammar Java implements (RFC 2396 with Java's additions), so that nothing dcm_exporter
writes can break the archive. Java's own messages are reproduced, e.g.
``Expected scheme-specific part at index 5: noop:``.

Rules, as Java applies them:

- a scheme: a letter, then letters, digits, ``+``, ``-`` or ``.``; ``:`` at index 0 is "Expected scheme name";
- after ``scheme:`` either a hierarchical part (it starts with ``/``) or an *opaque* part, which must not be
  empty (``noop:`` is refused) and holds only URI characters;
- URI characters: ASCII letters and digits, ``-_.!~*'()``, ``;/?:@&=+$,[]``, ``%`` followed by two hex
  digits, and any character above U+0080 that is neither a space character nor an ISO control character; so
  no space, no ``"<>\\^`{|}``, no control characters;
- a fragment after ``#`` holds URI characters too.
"""

from __future__ import annotations

import ipaddress
import unicodedata

__all__ = ["java_uri_problem"]

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_MARK = frozenset("-_.!~*'()")
_RESERVED = frozenset(";/?:@&=+$,[]")
_URIC = _ALNUM | _MARK | _RESERVED
_PCHAR = _ALNUM | _MARK | frozenset(":@&=+$,")
_PATH = _PCHAR | frozenset(";/")
_AUTHORITY = _ALNUM | _MARK | frozenset("$,;:@&=+[]")
_SCHEME = _ALNUM | frozenset("+-.")
_HEX = frozenset("0123456789abcdefABCDEF")


def _is_space_char(c: str) -> bool:
    # Character.isSpaceChar: Unicode categories Zs, Zl, Zp
    return unicodedata.category(c) in ("Zs", "Zl", "Zp")


def _is_iso_control(c: str) -> bool:
    o = ord(c)
    return o <= 0x1F or 0x7F <= o <= 0x9F


def _check(text: str, start: int, end: int, allowed: frozenset[str], what: str) -> str | None:
    i = start
    while i < end:
        c = text[i]
        if c in allowed:
            i += 1
        elif c == "%":
            if i + 2 < end and text[i + 1] in _HEX and text[i + 2] in _HEX:
                i += 3
            else:
                return f"Malformed escape pair at index {i}: {text}"
        elif ord(c) > 0x80 and not _is_space_char(c) and not _is_iso_control(c):
            i += 1
        else:
            return f"Illegal character in {what} at index {i}: {text}"
    return None


def java_uri_problem(uri: str) -> str | None:
    """Why ``new java.net.URI(uri)`` would throw (Java's message), or ``None`` when it parses.

    Only absolute URIs (with a scheme) are considered, as a ``dcmURI`` needs one.

    >>> java_uri_problem("dicom:STORESCP") is None
    True
    >>> java_uri_problem("noop:")
    'Expected scheme-specific part at index 5: noop:'
    >>> java_uri_problem("dicom:MY AET")
    'Illegal character in opaque part at index 8: dicom:MY AET'
    """
    n = len(uri)
    if n == 0:
        return "Expected scheme name at index 0: "
    colon = -1
    for i, c in enumerate(uri):
        if c in "/?#":
            break
        if c == ":":
            colon = i
            break
    if colon <= 0:  # Java would read a relative URI here; a dcmURI needs a scheme
        return f"Expected scheme name at index 0: {uri}"
    if uri[0] not in _ALNUM or uri[0].isdigit():
        return f"Illegal character in scheme name at index 0: {uri}"
    for i in range(1, colon):
        if uri[i] not in _SCHEME:
            return f"Illegal character in scheme name at index {i}: {uri}"
    p = colon + 1
    hash_at = uri.find("#", p)
    q = hash_at if hash_at >= 0 else n
    if p < n and uri[p] == "/":
        problem = _hierarchical(uri, p, q)
    elif q <= p:
        return f"Expected scheme-specific part at index {p}: {uri}"
    else:
        problem = _check(uri, p, q, _URIC, "opaque part")
    if problem is None and hash_at >= 0:
        problem = _check(uri, hash_at + 1, n, _URIC, "fragment")
    return problem


def _hierarchical(uri: str, p: int, end: int) -> str | None:
    if uri.startswith("//", p):
        a = p + 2
        q = a
        while q < end and uri[q] not in "/?":
            q += 1
        if q == a and q >= end:  # "scheme://" with neither authority nor path
            return f"Expected authority at index {a}: {uri}"
        if _check(uri, a, q, _AUTHORITY, "authority") is not None or not _bracketed_host_ok(uri[a:q]):
            return f"Illegal character in authority at index {a}: {uri}"  # Java names where it starts
        p = q
    q = p
    while q < end and uri[q] != "?":
        q += 1
    problem = _check(uri, p, q, _PATH, "path")
    if problem is None and q < end:
        problem = _check(uri, q + 1, end, _URIC, "query")
    return problem


_USERINFO = _ALNUM | _MARK | frozenset(";:&=+$,%")
_SCOPE = _ALNUM | frozenset("_.-")


def _bracketed_host_ok(authority: str) -> bool:
    """An authority holding ``[`` or ``]`` is no registry name for Java, so it must be a server:
    ``[userinfo@]`` then ``[`` IPv6 address (``%scope``) ``]`` then ``[:digits]``, nothing else."""
    if "[" not in authority and "]" not in authority:
        return True
    userinfo, at, rest = authority.partition("@")
    if not at:
        rest = authority
    elif not set(userinfo) <= _USERINFO:
        return False
    if not rest.startswith("[") or "]" not in rest:
        return False
    address, _, after = rest[1:].partition("]")
    if after and not (after[0] == ":" and after[1:].isascii() and (after[1:].isdigit() or after[1:] == "")):
        return False
    address, pct, scope = address.partition("%")
    if pct and (not scope or not set(scope) <= _SCOPE):
        return False
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True
