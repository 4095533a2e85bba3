"""The wire format of a STOW-RS store transaction (DICOM PS3.18 §10.5), free of any HTTP library.

Request side: a ``multipart/related; type="application/dicom"`` body assembled lazily from parts
(open Part 10 files or in-memory bytes), so that a request of any size is streamed in fixed-size chunks
and its exact ``Content-Length`` is known before the first byte is sent.

Response side: the Store Instances Response Module (PS3.18 Annex I) in either of its encodings,
``application/dicom+json`` or ``application/dicom+xml``, reduced to what an exporter needs: which SOP
instances were stored (with an optional Warning Reason), which failed and why.

Nothing here imports httpx; :mod:`dcm_exporter.transports.stow` does the HTTP.
"""

from __future__ import annotations

import json
import os
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

import attrs

__all__ = [
    "CHUNK_SIZE",
    "FAILURE_REASONS",
    "WARNING_REASONS",
    "BytesPart",
    "FilePart",
    "MultipartBody",
    "Part",
    "ResponseParseError",
    "StoreResponse",
    "describe_failure_reason",
    "describe_warning_reason",
    "parse_store_response",
]

CHUNK_SIZE = 256 * 1024
"""Bytes read from a file per chunk of the request body: the memory one streamed request needs."""

# Store Instances Response Module attributes (PS3.18 Table I.1-1 and PS3.3 Table 10-11)
TAG_RETRIEVE_URL = "00081190"
TAG_WARNING_REASON = "00081196"
TAG_FAILURE_REASON = "00081197"
TAG_FAILED_SOP_SEQUENCE = "00081198"
TAG_REFERENCED_SOP_SEQUENCE = "00081199"
TAG_OTHER_FAILURES_SEQUENCE = "0008119A"
TAG_REFERENCED_SOP_CLASS_UID = "00081150"
TAG_REFERENCED_SOP_INSTANCE_UID = "00081155"
TAG_ERROR_COMMENT = "00000902"

WARNING_REASONS: Mapping[int, str] = {
    0xB000: "coercion of data elements",
    0xB006: "elements discarded",
    0xB007: "data set does not match SOP class",
}
"""Warning Reason (0008,1196) values of PS3.18 §I.2.1."""

FAILURE_REASONS: Mapping[int, str] = {
    0x0110: "processing failure",
    0x0122: "referenced SOP class not supported",
    0x0124: "refused: not authorized",
    0x0210: "duplicate invocation",
    0x0211: "unrecognized operation",
    0x0212: "mistyped argument",
    0xA700: "out of resources",
    0xA770: "out of resources: out of memory",
    0xA771: "out of resources: out of storage space",
    0xA900: "data set does not match SOP class",
    0xC000: "cannot understand",
    0xC122: "referenced transfer syntax not supported",
}
"""Failure Reason (0008,1197) values of PS3.18 §I.2.2 (and the C-STORE statuses servers commonly reuse)."""


def describe_failure_reason(code: int) -> str:
    """``"A700H out of resources"`` for a Failure Reason (0008,1197) code; ranges of PS3.18 are honoured."""
    text = FAILURE_REASONS.get(code)
    if text is None:
        if 0xA700 <= code <= 0xA7FF:
            text = "out of resources"
        elif 0xA900 <= code <= 0xA9FF:
            text = "data set does not match SOP class"
        elif 0xC000 <= code <= 0xCFFF:
            text = "cannot understand"
        else:
            text = "failure"
    return f"{code:04X}H {text}"


def describe_warning_reason(code: int) -> str:
    """``"B000H coercion of data elements"`` for a Warning Reason (0008,1196) code."""
    return f"{code:04X}H {WARNING_REASONS.get(code, 'warning')}"


# --- request body -------------------------------------------------------------------------------


class Part:
    """One body part: a whole Part 10 object of known length."""

    length: int

    def chunks(self) -> Iterator[bytes]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release what the part holds open (a file)."""


class BytesPart(Part):
    """A part held in memory (used for an instance transcoded on the way out)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.length = len(data)

    def chunks(self) -> Iterator[bytes]:
        view = memoryview(self._data)
        for start in range(0, len(view), CHUNK_SIZE):
            yield bytes(view[start : start + CHUNK_SIZE])


class FilePart(Part):
    """A part streamed from an open binary file, from its current position to its end.

    The length is measured when the part is made (``fstat`` or seek to the end); if the file then
    yields a different number of bytes while it is sent, :class:`OSError` is raised, so a request
    never goes out with a body that does not match its declared ``Content-Length``.
    """

    def __init__(self, file: IO[bytes], *, chunk_size: int | None = None) -> None:
        self._file = file
        self._chunk_size = chunk_size or CHUNK_SIZE
        self._start = file.tell()
        try:
            end = os.fstat(file.fileno()).st_size
        except (AttributeError, OSError, ValueError):
            end = file.seek(0, os.SEEK_END)
            file.seek(self._start)
        self.length = max(0, end - self._start)

    def chunks(self) -> Iterator[bytes]:
        self._file.seek(self._start)
        remaining = self.length
        while remaining > 0:
            chunk = self._file.read(min(self._chunk_size, remaining))
            if not chunk:
                raise OSError(f"file shrank while it was sent: {remaining} of {self.length} bytes missing")
            remaining -= len(chunk)
            yield chunk
        if self._file.read(1):
            raise OSError(f"file grew while it was sent: more than the {self.length} bytes measured")

    def close(self) -> None:
        self._file.close()


class MultipartBody:
    """A ``multipart/related; type="application/dicom"`` request body over a sequence of parts.

    Iterating yields the body in chunks of at most :data:`CHUNK_SIZE` bytes (plus the small part
    headers); :attr:`length` is the exact total, for a ``Content-Length`` header.

    >>> body = MultipartBody([BytesPart(b"DICM")], boundary="b0")
    >>> b"".join(body)
    b'--b0\\r\\nContent-Type: application/dicom\\r\\n\\r\\nDICM\\r\\n--b0--\\r\\n'
    >>> body.length
    55
    """

    def __init__(self, parts: Sequence[Part], *, boundary: str | None = None) -> None:
        self.parts = tuple(parts)
        self.boundary = boundary or f"dcm-exporter-{secrets.token_hex(16)}"
        self._part_head = f"--{self.boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode("ascii")
        self._tail = f"--{self.boundary}--\r\n".encode("ascii")

    @property
    def content_type(self) -> str:
        """The request's ``Content-Type`` header value."""
        return f'multipart/related; type="application/dicom"; boundary={self.boundary}'

    @property
    def length(self) -> int:
        """Exact number of bytes the body has."""
        return sum(len(self._part_head) + part.length + 2 for part in self.parts) + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        for part in self.parts:
            yield self._part_head
            yield from part.chunks()
            yield b"\r\n"
        yield self._tail

    def close(self) -> None:
        """Close every part (their files)."""
        for part in self.parts:
            part.close()


# --- response ------------------------------------------------------------------------------------


class ResponseParseError(ValueError):
    """The body of a STOW-RS response is not a Store Instances Response Module this parser understands."""


@attrs.frozen(kw_only=True)
class StoreResponse:
    """What a STOW-RS response body says about each SOP instance.

    Attributes:
        referenced: SOP Instance UID -> Warning Reason code (``None`` = stored without warning), from the
            Referenced SOP Sequence (0008,1199).
        failed: SOP Instance UID -> Failure Reason code (``None`` when the item has none), from the
            Failed SOP Sequence (0008,1198).
        other_failures: (SOP Instance UID or ``None``, Failure Reason code or ``None``) from the Other
            Failures Sequence (0008,119A), which reports problems not tied to a listed instance.
        retrieve_url: the study's Retrieve URL (0008,1190), if given.
    """

    referenced: Mapping[str, int | None] = attrs.field(factory=dict)
    failed: Mapping[str, int | None] = attrs.field(factory=dict)
    other_failures: tuple[tuple[str | None, int | None], ...] = ()
    retrieve_url: str | None = None

    @property
    def is_empty(self) -> bool:
        """True when the body named no instance at all."""
        return not (self.referenced or self.failed or self.other_failures)


def parse_store_response(body: bytes, content_type: str | None) -> StoreResponse:
    """Parse a Store Instances Response Module from a STOW-RS response body.

    Tolerant when decoding: the media type picks the parser (``application/dicom+json``,
    ``application/json``, ``application/dicom+xml``, ``*/xml``); without a usable type the body is sniffed.
    An empty body gives an empty :class:`StoreResponse`.

    Raises:
        ResponseParseError: the body is neither a DICOM JSON nor a Native DICOM Model XML dataset.

    >>> r = parse_store_response(
    ...     b'{"00081198": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2.3"]},'
    ...     b' "00081197": {"vr": "US", "Value": [42752]}}]}}', "application/dicom+json")
    >>> dict(r.failed)
    {'1.2.3': 42752}
    """
    text = body.strip()
    if not text:
        return StoreResponse()
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media.endswith("json"):
        return _parse_json(text)
    if media.endswith("xml"):
        return _parse_xml(text)
    if text[:1] in (b"{", b"["):
        return _parse_json(text)
    if text[:1] == b"<":
        return _parse_xml(text)
    raise ResponseParseError(f"unsupported response media type {media or '(none)'!r}")


def _parse_json(text: bytes) -> StoreResponse:
    try:
        doc = json.loads(text)
    except RecursionError:
        raise ResponseParseError("response is not readable JSON: nested too deeply") from None
    except ValueError as exc:  # also UnicodeDecodeError, and a number past Python's 4,300-digit limit
        raise ResponseParseError(f"response is not valid JSON: {exc}") from exc
    if isinstance(doc, list):  # some servers wrap the one dataset in an array
        doc = doc[0] if len(doc) == 1 else {}
    if not isinstance(doc, dict):
        raise ResponseParseError("DICOM JSON response is not an object")
    return _build(_JsonDataset(doc))


def _parse_xml(text: bytes) -> StoreResponse:
    try:
        from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
        from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - defusedxml comes with the dicomweb extra, as httpx does
        raise ResponseParseError("a DICOM XML response needs defusedxml: install dcm-exporter[dicomweb]") from None
    try:
        # the parser itself refuses a DTD, in whatever encoding the document declares (a byte search for
        # '<!DOCTYPE' misses UTF-16)
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ResponseParseError(f"DICOM XML response refused: {type(exc).__name__} ({exc})") from exc
    except ET.ParseError as exc:
        raise ResponseParseError(f"response is not well-formed XML: {exc}") from exc
    except (RecursionError, ValueError) as exc:
        raise ResponseParseError(f"response is not readable XML: {type(exc).__name__}") from exc
    if _local(root.tag) != "NativeDicomModel":
        raise ResponseParseError(
            f"DICOM XML response has root element {_local(root.tag)!r}, not NativeDicomModel"
        )
    return _build(_XmlDataset(root))


class _Dataset:
    """The few read operations the response needs, over either encoding."""

    def items(self, tag: str) -> list[_Dataset]:  # pragma: no cover - abstract
        raise NotImplementedError

    def string(self, tag: str) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def integer(self, tag: str) -> int | None:
        value = self.string(tag)
        if value is None:
            return None
        try:
            return int(value.strip())
        except ValueError:
            raise ResponseParseError(
                f"attribute ({tag[:4]},{tag[4:]}) has non-integer value {value!r}"
            ) from None


class _JsonDataset(_Dataset):
    def __init__(self, obj: Mapping[str, Any]) -> None:
        self._obj = {str(k).upper(): v for k, v in obj.items()}

    def _values(self, tag: str) -> list[Any]:
        element = self._obj.get(tag)
        if not isinstance(element, dict):
            return []
        values = element.get("Value")
        return values if isinstance(values, list) else []

    def items(self, tag: str) -> list[_Dataset]:
        return [_JsonDataset(item) for item in self._values(tag) if isinstance(item, dict)]

    def string(self, tag: str) -> str | None:
        values = self._values(tag)
        if not values or values[0] is None:
            return None
        value = values[0]
        if isinstance(value, bool):
            raise ResponseParseError(f"attribute ({tag[:4]},{tag[4:]}) has boolean value")
        return str(value)


class _XmlDataset(_Dataset):
    def __init__(self, element: ET.Element) -> None:
        self._children: dict[str, ET.Element] = {}
        for child in element:
            if _local(child.tag) == "DicomAttribute":
                self._children[(child.get("tag") or "").upper()] = child

    def items(self, tag: str) -> list[_Dataset]:
        element = self._children.get(tag)
        if element is None:
            return []
        return [_XmlDataset(item) for item in element if _local(item.tag) == "Item"]

    def string(self, tag: str) -> str | None:
        element = self._children.get(tag)
        if element is None:
            return None
        for value in element:
            if _local(value.tag) == "Value" and value.get("number", "1") == "1":
                return value.text or ""
        return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _build(ds: _Dataset) -> StoreResponse:
    referenced: dict[str, int | None] = {}
    for item in ds.items(TAG_REFERENCED_SOP_SEQUENCE):
        uid = item.string(TAG_REFERENCED_SOP_INSTANCE_UID)
        if uid:
            referenced[uid.strip()] = item.integer(TAG_WARNING_REASON)
    failed: dict[str, int | None] = {}
    for item in ds.items(TAG_FAILED_SOP_SEQUENCE):
        uid = item.string(TAG_REFERENCED_SOP_INSTANCE_UID)
        if uid:
            failed[uid.strip()] = item.integer(TAG_FAILURE_REASON)
    others: list[tuple[str | None, int | None]] = []
    for item in ds.items(TAG_OTHER_FAILURES_SEQUENCE):
        uid = item.string(TAG_REFERENCED_SOP_INSTANCE_UID)
        others.append((uid.strip() if uid else None, item.integer(TAG_FAILURE_REASON)))
    return StoreResponse(
        referenced=referenced,
        failed=failed,
        other_failures=tuple(others),
        retrieve_url=ds.string(TAG_RETRIEVE_URL),
    )
