"""dcm4che ``Conditions``: the ``dcmProperty`` values of an export rule, parsed once and compiled to predicates.

A condition is ``Key=value`` or ``Key!=value`` (split at the first ``=``; a ``!`` ending the key negates).
``Key`` is one of the four network keys (``SendingApplicationEntityTitle``, ``ReceivingApplicationEntityTitle``,
``SendingHostname``, ``ReceivingHostname``) or an attribute path: DICOM keywords (case-sensitive) or tags
written as eight hex digits, joined by ``.`` through sequences (``RequestAttributesSequence.ScheduledProcedureStepID``,
``00400275.00400009``), optionally ending in ``[n]`` (1-based value index). ``value`` is

* empty — a presence test: ``Key=`` holds when the attribute is absent or has no value, ``Key!=`` when it has one
  (a sequence has a value when it has an item);
* a code list ``(value, scheme[version], "meaning")|(...)`` — the first item of the sequence ``Key`` holds a code
  equal to one of them (meaning ignored), as dcm4che's code matcher;
* otherwise a regular expression that must match a whole value (case-sensitive, like Java's ``matches()``).

Evaluation (what dcm4chee-arc-light 5.35 does): the *positive* form of a condition holds when, along the path,
*some* sequence item leads to a leaf where *any* value (or, with ``[n]``, the n-th value) fully matches; the
``!=`` form is its negation. So ``Modality!=CT|MR`` also holds when there is no Modality, and a network key that
is unknown (``None``/empty) never matches ``Key=regex``. Empty values of a multi-valued attribute are skipped.
Conditions of one rule are AND-ed; a key given twice keeps its last value (dcm4che keeps them in a map).

Where we deviate: with ``[n]`` beyond the number of values upstream counts the condition as *matched*
(``ImageType[4]=X`` would hold for a three-valued Image Type); we treat the missing value as no match. A presence
test on a network key (``SendingHostname=``) is a crash upstream; here it tests for an unknown value.
Python's ``re`` stands in for ``java.util.regex``; Java-only syntax (``\\p{Alpha}``) is reported at load time.

Bounded matching time: values come from received datasets and are not trusted, and a backtracking engine
takes exponential time for patterns such as ``(a+)+$`` (12 s for 28 characters). So a pattern runs on
Python's ``re`` only when it cannot backtrack more than linearly: at most one repetition whose body is
one character (``CT_.*``, ``[0-9]+``, ``ORIGINAL|DERIVED``; a fixed count like ``\\d{8}`` is not counted).
Every other pattern runs on RE2 (the ``google-re2`` package), whose time is linear in the value. A pattern
that needs both repetition and syntax RE2 lacks (backreferences, lookaround, possessive repeats) is refused
at load time. Both engines read ``\\d``, ``\\w``, ``\\s`` as ASCII classes, as ``java.util.regex`` does.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast

import attrs

from dcm_exporter._imports import PYDICOM, require

__all__ = [
    "NETWORK_KEYS",
    "CodeItem",
    "Condition",
    "ConditionError",
    "DatasetView",
    "Predicate",
    "ValuePattern",
    "compile_value_pattern",
    "dataset_view",
    "parse_condition",
    "parse_conditions",
]

#: The network keys, in the order of the ``net`` tuple handed to predicates.
NETWORK_KEYS: tuple[str, ...] = (
    "SendingApplicationEntityTitle",
    "ReceivingApplicationEntityTitle",
    "SendingHostname",
    "ReceivingHostname",
)
_NET_INDEX = {k: i for i, k in enumerate(NETWORK_KEYS)}
RECEIVING_AET_INDEX = 1

_HEX_TAG = re.compile(r"[0-9A-Fa-f]{8}")
_INDEX = re.compile(r"^(?P<path>.*)\[(?P<n>[^\[\]]*)\]$")
_TRAILING_ONLY = frozenset({"LT", "ST", "UT"})

_CODING_SCHEME_WITH_VERSION = re.compile(r"^(?P<scheme>.*?)\s*\[(?P<version>[^\[\]]*)\]$")


class ConditionError(ValueError):
    """A ``dcmProperty`` condition that cannot be used (the caller adds the rule's DN)."""


# --- dataset access -----------------------------------------------------------------------------------


class DatasetView(Protocol):
    """What a predicate reads from a dataset: value strings, presence, sequence items."""

    def values(self, tag: int) -> tuple[str | None, ...]:
        """The values as strings (``None`` for an empty value of a multi-valued attribute); ``()`` when the
        attribute is absent, empty or has no string form (binary, sequence)."""
        ...

    def has_value(self, tag: int) -> bool:
        """Whether the attribute is present with a value (a sequence: with at least one item)."""
        ...

    def items(self, tag: int) -> Sequence[DatasetView]:
        """The items of a sequence attribute (``()`` when absent or not a sequence)."""
        ...


def _text(value: Any, vr: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        s = value
    elif isinstance(value, bytes | bytearray):
        return None
    elif isinstance(value, bool):
        s = "true" if value else "false"
    elif vr == "AT" and isinstance(value, int):
        s = f"{int(value):08X}"
    else:
        s = str(value)
    s = s.rstrip() if vr in _TRAILING_ONLY else s.strip()
    return s or None


_ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI"})
_TEXT_VRS = frozenset({"SH", "LO", "PN", "ST", "LT", "UT", "UC", "UR"})
_SINGLE_VRS = frozenset({"ST", "LT", "UT", "UR"})
#: Specific Character Set values whose text we decode ourselves; any other falls back to pydicom.
_CHARSETS = {"": "ascii", "ISO_IR 6": "ascii", "ISO 2022 IR 6": "ascii", "ISO_IR 100": "latin-1",
             "ISO_IR 192": "utf-8"}


def _dictionary_vr(tag: int) -> str | None:
    from pydicom.datadict import dictionary_VR

    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return None


_VR_CACHE: dict[int, str | None] = {}


class _PydicomView:
    """A pydicom ``Dataset`` seen through :class:`DatasetView` (values cached per view).

    Text elements pydicom has not converted yet (``RawDataElement``) are decoded here, which is ten times
    cheaper than pydicom's conversion; anything else (binary VRs, sequences, other character sets) goes
    through pydicom.
    """

    __slots__ = ("_cache", "_charset", "_ds")

    def __init__(self, ds: Any, charset: str | None = None) -> None:
        self._ds = ds
        self._charset = charset
        self._cache: dict[int, tuple[str | None, ...]] = {}

    def _element(self, tag: int) -> Any:
        try:
            return self._ds[tag]
        except KeyError:
            return None

    def _encoding(self) -> str | None:
        """Python codec of the dataset's Specific Character Set, or ``None`` when pydicom must decode."""
        if self._charset is None:
            raw = self._ds.get_item(0x00080005)
            if raw is None:
                self._charset = ""
            else:
                value = raw.value
                if isinstance(value, bytes | bytearray):
                    value = bytes(value).decode("latin-1")
                if not isinstance(value, str):
                    value = "\\".join(str(v) for v in value) if value is not None else ""
                self._charset = value.strip(" \x00")
        return _CHARSETS.get(self._charset)

    def _raw_values(self, raw: Any, tag: int) -> tuple[str | None, ...] | None:
        """Decode an unconverted element's bytes, or ``None`` when pydicom has to."""
        vr = raw.VR
        if vr is None:
            if tag not in _VR_CACHE:
                _VR_CACHE[tag] = _dictionary_vr(tag)
            vr = _VR_CACHE[tag]
        if vr in _ASCII_VRS:
            codec: str | None = "latin-1"
        elif vr in _TEXT_VRS:
            codec = self._encoding()
        else:
            return None
        data = raw.value
        if not data:
            return ()
        if codec is None or not isinstance(data, bytes | bytearray):
            return None
        try:
            text = bytes(data).decode(codec)
        except UnicodeDecodeError:
            return None
        parts = [text] if vr in _SINGLE_VRS else text.split("\\")
        trailing = vr in _TRAILING_ONLY
        many = tuple((p.rstrip(" \x00") if trailing else p.strip(" \x00")) or None for p in parts)
        return many if any(v is not None for v in many) else ()

    def values(self, tag: int) -> tuple[str | None, ...]:
        cached = self._cache.get(tag)
        if cached is not None:
            return cached
        result: tuple[str | None, ...] | None = None
        raw = self._ds.get_item(tag)
        if raw is None:
            result = ()
        elif type(raw).__name__ == "RawDataElement":
            result = self._raw_values(raw, tag)
        if result is None:
            result = self._converted_values(tag)
        self._cache[tag] = result
        return result

    def _converted_values(self, tag: int) -> tuple[str | None, ...]:
        elem = self._element(tag)
        if elem is None:
            return ()
        vr = str(elem.VR)
        value = elem.value
        if vr == "SQ" or value is None:
            return ()
        if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence):
            one = _text(value, vr)
            return (one,) if one is not None else ()
        many = tuple(_text(v, vr) for v in value)
        return many if any(v is not None for v in many) else ()

    def has_value(self, tag: int) -> bool:
        raw = self._ds.get_item(tag)
        if raw is None:
            return False
        if type(raw).__name__ == "RawDataElement" and (raw.VR in _ASCII_VRS or raw.VR in _TEXT_VRS):
            return bool(self.values(tag))
        elem = self._element(tag)
        return elem is not None and not elem.is_empty

    def items(self, tag: int) -> Sequence[DatasetView]:
        elem = self._element(tag)
        if elem is None or str(elem.VR) != "SQ" or not elem.value:
            return ()
        self._encoding()
        return [_PydicomView(item, self._charset) for item in elem.value]


def _json_pn(value: Any) -> Any:
    if isinstance(value, Mapping):
        parts = [str(value.get(k, "")) for k in ("Alphabetic", "Ideographic", "Phonetic")]
        while parts and not parts[-1]:
            parts.pop()
        return "=".join(parts)
    return value


class _JsonView:
    """A DICOM JSON dataset (PS3.18 F.2: ``{"00080060": {"vr": "CS", "Value": ["CT"]}}``)."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Mapping[str, Any]) -> None:
        self._obj = obj

    def _element(self, tag: int) -> Mapping[str, Any] | None:
        key = f"{tag:08X}"
        elem = self._obj.get(key)
        if elem is None:
            elem = self._obj.get(key.lower())
        return elem if isinstance(elem, Mapping) else None

    def values(self, tag: int) -> tuple[str | None, ...]:
        elem = self._element(tag)
        if elem is None:
            return ()
        vr = str(elem.get("vr", ""))
        raw = elem.get("Value")
        if vr == "SQ" or not isinstance(raw, list) or not raw:
            return ()
        if vr == "PN":
            raw = [_json_pn(v) for v in raw]
        many = tuple(_text(v, vr) for v in raw)
        return many if any(v is not None for v in many) else ()

    def has_value(self, tag: int) -> bool:
        elem = self._element(tag)
        if elem is None:
            return False
        raw = elem.get("Value")
        return bool(raw) or bool(elem.get("InlineBinary")) or bool(elem.get("BulkDataURI"))

    def items(self, tag: int) -> Sequence[DatasetView]:
        elem = self._element(tag)
        if elem is None or elem.get("vr") != "SQ":
            return ()
        raw = elem.get("Value")
        if not isinstance(raw, list):
            return ()
        return [_JsonView(item) for item in raw if isinstance(item, Mapping)]


def dataset_view(dataset: Any) -> DatasetView:
    """Wrap a pydicom :class:`~pydicom.dataset.Dataset` or a DICOM JSON mapping for condition evaluation.

    Raises:
        TypeError: anything else.
    """
    if isinstance(dataset, _PydicomView | _JsonView):
        return dataset
    if hasattr(dataset, "data_element") and hasattr(dataset, "__getitem__"):
        return _PydicomView(dataset)
    if isinstance(dataset, Mapping):
        return _JsonView(dataset)
    raise TypeError(
        f"a dataset must be a pydicom Dataset or a DICOM JSON mapping, got {type(dataset).__name__}"
    )


# --- codes ---------------------------------------------------------------------------------------------


@attrs.frozen
class CodeItem:
    """A coded entry compared ignoring its meaning: value, coding scheme designator and version."""

    value: str
    scheme: str | None
    version: str | None

    @classmethod
    def parse(cls, text: str) -> CodeItem:
        """Parse dcm4che's text form ``(value, scheme[version], "meaning")``.

        Raises:
            ValueError: not in that form.
        """
        s = text.strip()
        if len(s) < 9 or not s.startswith("(") or not s.endswith('")'):
            raise ValueError(text)
        first = s.find(",")
        second = s.find(",", first + 1)
        quote = s.find('"', second + 1) if second >= 0 else -1
        if first < 0 or quote < 0:
            raise ValueError(text)
        value = s[1:first].strip()
        if not value or not s[quote + 1 : -2].strip():
            raise ValueError(text)
        if value.startswith("urn:"):
            return cls(value=value, scheme=None, version=None)
        scheme_text = s[first + 1 : second].strip()
        version: str | None = None
        m = _CODING_SCHEME_WITH_VERSION.match(scheme_text)
        if m:
            scheme_text, version = m.group("scheme").strip(), m.group("version").strip() or None
        if not scheme_text:
            raise ValueError(text)
        return cls(value=value, scheme=scheme_text, version=_nullify_dcm01(scheme_text, version))

    @classmethod
    def from_item(cls, item: DatasetView) -> CodeItem | None:
        """The code in a sequence item (Code Value / Long / URN Code Value, scheme, version), if complete."""
        value = _first(item.values(0x00080100)) or _first(item.values(0x00080119)) or _first(
            item.values(0x00080120)
        )
        if value is None or _first(item.values(0x00080104)) is None:
            return None
        if value.startswith("urn:"):
            return cls(value=value, scheme=None, version=None)
        scheme = _first(item.values(0x00080102))
        if scheme is None:
            return None
        return cls(value=value, scheme=scheme, version=_nullify_dcm01(scheme, _first(item.values(0x00080103))))


def _first(values: tuple[str | None, ...]) -> str | None:
    return values[0] if values else None


def _nullify_dcm01(scheme: str | None, version: str | None) -> str | None:
    return None if scheme == "DCM" and version == "01" else version


def _parse_codes(text: str) -> tuple[CodeItem, ...] | None:
    try:
        return tuple(CodeItem.parse(part) for part in text.split("|"))
    except ValueError:
        return None


# --- conditions ----------------------------------------------------------------------------------------

class ValuePattern(Protocol):
    """A compiled condition pattern (Python ``re`` or RE2): what predicates call."""

    def fullmatch(self, string: str) -> object | None: ...


# the parser of the re module itself (no public API; typeshed has no stubs for it): the pattern's structure as
# Python's engine will run it
_parser: Any = importlib.import_module("re._parser")
_sre: Any = importlib.import_module("re._constants")
_REPEATS = frozenset({_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", _sre.MAX_REPEAT)})
_ONE_CHARACTER = frozenset({_sre.LITERAL, _sre.NOT_LITERAL, _sre.ANY, _sre.IN, _sre.CATEGORY})


def _choice_points(items: Any) -> int:
    """How many repetitions of ``items`` (a parsed pattern) let a backtracking engine choose a length;
    a large number (2) for a repetition of anything wider than one character, which can nest."""
    total = 0
    for op, av in items:
        if op in _REPEATS:
            low, high, body = av
            single = len(body) == 1 and body[0][0] in _ONE_CHARACTER
            if single and low == high:
                continue  # \d{8}: one way to match, nothing to try again
            total += 1 if single else 2
        elif op is _sre.SUBPATTERN:
            total += _choice_points(av[-1])
        elif op is _sre.BRANCH:
            total += sum(_choice_points(branch) for branch in av[1])
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
            total += _choice_points(av[1])
        elif op is _sre.GROUPREF_EXISTS:
            total += sum(_choice_points(branch) for branch in av[1:] if branch is not None)
        elif op is getattr(_sre, "ATOMIC_GROUP", None):
            total += _choice_points(av)
    return total


def compile_value_pattern(value: str) -> ValuePattern:
    """Compile a condition's regular expression for an engine whose time is linear in the value.

    Raises:
        ConditionError: not a regular expression, or one that needs backtracking beyond linear time.
    """
    try:
        compiled = re.compile(value, re.ASCII)
    except re.error as exc:
        raise ConditionError(f"invalid regular expression {value!r}: {exc}") from None
    except RecursionError:
        raise ConditionError(f"regular expression {value!r} is nested too deeply") from None
    try:
        linear = _choice_points(_parser.parse(value, re.ASCII)) <= 1
    except RecursionError:
        linear = False
    if linear:
        return compiled
    try:
        import re2  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - a core dependency; only a broken install lacks it
        raise ConditionError(
            f"regular expression {value!r} repeats more than one character and needs the google-re2 package"
        ) from None
    options = re2.Options()
    options.log_errors = False  # RE2 would print refused patterns to stderr
    try:
        return cast(ValuePattern, re2.compile(value, options))
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ConditionError(
            f"regular expression {value!r} cannot be matched in bounded time: it repeats more than one "
            f"character and uses syntax the linear-time engine (RE2) lacks ({reason}); rewrite it without "
            "backreferences, lookaround or possessive repeats"
        ) from None


#: A compiled condition: ``predicate(view, net) -> bool`` with ``net`` the four network values.
Predicate = Callable[[DatasetView, Sequence[str | None]], bool]


@attrs.frozen(kw_only=True)
class Condition:
    """One parsed condition.

    Attributes:
        text: The ``dcmProperty`` value as configured.
        key: The key as written, without ``!`` and ``[n]`` (this plus ``negate`` and ``value_index`` identifies
            the condition; a later one with the same identity replaces an earlier one).
        negate: ``Key!=...``.
        network_index: Index into :data:`NETWORK_KEYS` for a network key, else ``None``.
        path: The tags from the outermost sequence to the tested attribute (empty for a network key).
        value_index: 1-based value position, 0 = any value.
        pattern: The compiled regular expression (``None`` for a presence test or a code list).
        codes: The code list, for a value starting with ``(`` that parses as codes.
    """

    text: str
    key: str
    negate: bool
    network_index: int | None
    path: tuple[int, ...]
    value_index: int
    pattern: ValuePattern | None
    codes: tuple[CodeItem, ...] | None

    @property
    def identity(self) -> str:
        """The map key dcm4che files the condition under (``Key``, ``Key[n]``, ``Key!`` ...)."""
        idx = f"[{self.value_index}]" if self.value_index else ""
        return f"{self.key}{idx}{'!' if self.negate else ''}"

    @property
    def is_presence_test(self) -> bool:
        """``Key=`` / ``Key!=``: tests for an absent / present value."""
        return self.pattern is None and self.codes is None

    def compile(self) -> Predicate:
        """The predicate: ``predicate(view, net) -> bool``."""
        negate = self.negate
        if self.network_index is not None:
            idx = self.network_index
            if self.pattern is None:
                return lambda view, net: (not net[idx]) != negate
            fullmatch = self.pattern.fullmatch

            def network(view: DatasetView, net: Sequence[str | None]) -> bool:
                v = net[idx]
                return (bool(v) and fullmatch(v) is not None) != negate  # type: ignore[arg-type]

            return network

        leaf = self._leaf()
        path = _tags(self.path)
        if len(path) == 1:
            tag = path[0]
            return lambda view, net: leaf(view, tag) != negate
        last = len(path) - 1

        def walk(view: DatasetView, level: int) -> bool:
            if level == last:
                return leaf(view, path[level])
            return any(walk(item, level + 1) for item in view.items(path[level]))

        return lambda view, net: walk(view, 0) != negate

    def _leaf(self) -> Callable[[DatasetView, int], bool]:
        """The positive test at the last element of the path."""
        if self.codes is not None:
            codes = self.codes

            def code(view: DatasetView, tag: int) -> bool:
                items = view.items(tag)
                if not items:
                    return False
                found = CodeItem.from_item(items[0])
                return found is not None and found in codes

            return code
        if self.pattern is None:
            return lambda view, tag: not view.has_value(tag)
        fullmatch = self.pattern.fullmatch
        n = self.value_index
        if n:

            def nth(view: DatasetView, tag: int) -> bool:
                values = view.values(tag)
                if n > len(values):
                    return False
                v = values[n - 1]
                return v is not None and fullmatch(v) is not None

            return nth

        def any_value(view: DatasetView, tag: int) -> bool:
            for v in view.values(tag):  # noqa: SIM110 - a plain loop is faster than any(<generator>)
                if v is not None and fullmatch(v) is not None:
                    return True
            return False

        return any_value


def _tags(path: tuple[int, ...]) -> tuple[int, ...]:
    """The tags as pydicom ``BaseTag`` (an ``int``), which pydicom looks up without converting again."""
    from pydicom.tag import BaseTag

    return tuple(BaseTag(t) for t in path)


def _resolve_element(name: str) -> int:
    from pydicom.datadict import tag_for_keyword

    if _HEX_TAG.fullmatch(name):
        return int(name, 16)
    tag = tag_for_keyword(name)
    if tag is None:
        hint = ""
        if name and name[0].islower() and tag_for_keyword(name[0].upper() + name[1:]) is not None:
            hint = f" (keywords are case-sensitive: {name[0].upper() + name[1:]})"
        raise ConditionError(f"unknown DICOM keyword {name!r}{hint}; use a keyword or an 8-digit hex tag")
    return int(tag)


def _check_sequence(tag: int, name: str) -> None:
    from pydicom.datadict import dictionary_VR

    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return  # private or unknown tag: cannot tell
    if vr != "SQ":
        raise ConditionError(f"{name!r} is not a sequence (VR {vr}), so it cannot be followed by '.'")


def parse_condition(text: str) -> Condition:
    """Parse one ``Key=value`` / ``Key!=value`` condition.

    Raises:
        ConditionError: no ``=``, an empty key, a bad ``[n]``, an unknown keyword, a path through a
            non-sequence, or an invalid regular expression.
    """
    require(*PYDICOM)
    eq = text.find("=")
    if eq < 0:
        raise ConditionError(f"condition {text!r} is not Key=value or Key!=value")
    key = text[:eq]
    value = text[eq + 1 :]
    negate = key.endswith("!")
    if negate:
        key = key[:-1]
    value_index = 0
    m = _INDEX.match(key)
    if m:
        try:
            value_index = int(m.group("n"))
        except ValueError:
            raise ConditionError(f"condition {text!r}: value position [{m.group('n')}] is not a number") from None
        if value_index <= 0:
            raise ConditionError(f"condition {text!r}: value position [{value_index}] must be 1 or more")
        key = m.group("path")
    if not key:
        raise ConditionError(f"condition {text!r} has no key")
    network_index = _NET_INDEX.get(key)
    path: tuple[int, ...] = ()
    if network_index is not None:
        if value_index:
            raise ConditionError(f"condition {text!r}: a network key has one value, [n] makes no sense")
    else:
        names = key.split(".")
        if any(not n for n in names):
            raise ConditionError(f"condition {text!r}: empty element in attribute path {key!r}")
        try:
            path = tuple(_resolve_element(n) for n in names)
            for tag, name in zip(path[:-1], names[:-1], strict=True):
                _check_sequence(tag, name)
        except ConditionError as exc:
            raise ConditionError(f"condition {text!r}: {exc}") from None
    pattern: ValuePattern | None = None
    codes: tuple[CodeItem, ...] | None = None
    if value:
        if value.startswith("(") and network_index is None:
            codes = _parse_codes(value)
        if value.startswith("§"):
            raise ConditionError(
                f"condition {text!r}: value predicates ({value.split('|')[0]}) are not supported"
            )
        if codes is None:
            try:
                pattern = compile_value_pattern(value)
            except ConditionError as exc:
                raise ConditionError(f"condition {text!r}: {exc}") from None
    return Condition(
        text=text,
        key=key,
        negate=negate,
        network_index=network_index,
        path=path,
        value_index=value_index,
        pattern=pattern,
        codes=codes,
    )


def parse_conditions(texts: Sequence[str]) -> tuple[tuple[Condition, ...], list[str]]:
    """Parse a rule's conditions; a repeated key keeps its last value (as dcm4che's map does).

    Returns:
        The conditions (network keys first, then attribute paths, each in configured order) and a note for
        every condition a later one replaced.

    Raises:
        ConditionError: for the first condition that cannot be parsed.
    """
    by_identity: dict[str, Condition] = {}
    notes: list[str] = []
    for text in texts:
        cond = parse_condition(text)
        old = by_identity.pop(cond.identity, None)
        if old is not None:
            notes.append(f"condition {old.text!r} is replaced by {cond.text!r} (same key)")
        by_identity[cond.identity] = cond
    ordered = sorted(by_identity.values(), key=lambda c: (c.network_index is None, len(c.path)))
    return tuple(ordered), notes
