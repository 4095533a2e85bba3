"""``xslt:<stylesheet>``: an XSLT 1.0 stylesheet (lxml) over the DICOM Native XML model of PS3.19.

The data set is written as ``<NativeDicomModel>`` (PS3.19 Annex A: ``DicomAttribute`` with ``tag``, ``vr`` and
``keyword`` — left out with ``dcmCoercionParam: xsl-no-keyword=true`` —, ``Value``, ``PersonName`` with its
``Alphabetic`` / ``Ideographic`` / ``Phonetic`` components, ``Item``, ``InlineBinary``). Pixel data and other
binary values over 64 KiB are left out of the input (a stylesheet that copies them would only copy them back).

The stylesheet gets four string parameters: ``SendingApplicationEntityTitle`` (the exporter's AE title),
``ReceivingApplicationEntityTitle`` (the destination's AE title), ``SendingHostname`` and ``ReceivingHostname``
(only the ones known are passed). Its result, also a ``NativeDicomModel``, is *added* to the data set, as
dcm4chee does on the outgoing path (``attrs.addAll``): attributes in the result replace those of the data set
(an attribute without a value empties it); the data set's Specific Character Set is kept. So a stylesheet can
add, replace and empty attributes, not remove them.

The stylesheet URI may be a path or a ``file:`` URL; ``${NAME}`` in it is replaced by the environment variable
``NAME`` (dcm4chee expands Java system properties such as ``${jboss.server.temp.url}`` there). Compiled
stylesheets are cached per path and modification time (in each thread). lxml is needed
(``pip install dcm-exporter[coercion]``).
"""

from __future__ import annotations

import base64
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from dcm_exporter.errors import ConfigurationError

if TYPE_CHECKING:
    from pydicom import Dataset

    from dcm_exporter.coercion.context import CoercionContext
    from dcm_exporter.models import AttributeCoercion

__all__ = ["XSLT", "XsltProcessor", "from_native_xml", "resolve_stylesheet", "to_native_xml"]

_MAX_INLINE = 64 * 1024
_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
_PN_PARTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_INT_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV"})
_FLOAT_VRS = frozenset({"FL", "FD"})
_VAR = re.compile(r"\$\{([^}]+)\}")


def _lxml() -> Any:
    try:
        from lxml import etree
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigurationError("the xslt: coercion needs lxml: pip install dcm-exporter[coercion]") from exc
    return etree


def resolve_stylesheet(uri: str) -> Path:
    """The stylesheet file of an ``xslt:`` URI (``${NAME}`` from the environment; a path or ``file:`` URL).

    Raises:
        ConfigurationError: an unknown variable, a scheme other than ``file:``, or no such file.
    """

    def var(m: re.Match[str]) -> str:
        value = os.environ.get(m.group(1))
        if value is None:
            raise ConfigurationError(
                f"xslt: stylesheet {uri!r}: ${{{m.group(1)}}} is not set (dcm_exporter reads it from the environment)"
            )
        return value

    text = _VAR.sub(var, uri)
    parts = urlsplit(text)
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
    elif parts.scheme and len(parts.scheme) > 1:
        raise ConfigurationError(f"xslt: stylesheet {text!r}: only files (a path or file: URL) can be read")
    else:
        path = Path(text)
    if not path.is_file():
        raise ConfigurationError(f"xslt: stylesheet {text!r} not found ({path})")
    return path


def to_native_xml(ds: Dataset, *, keywords: bool = True) -> Any:
    """The data set as a PS3.19 ``NativeDicomModel`` element (lxml)."""
    etree = _lxml()
    root = etree.Element("NativeDicomModel")
    root.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
    _write(etree, root, ds, keywords)
    return root


def _write(etree: Any, parent: Any, ds: Any, keywords: bool) -> None:
    creators: dict[int, str] = {}
    for elem in ds:
        tag = int(elem.tag)
        group, element = tag >> 16, tag & 0xFFFF
        if group & 1 and 0x10 <= element <= 0xFF:
            creators[(group << 16) | element] = str(elem.value)
    for elem in ds:
        tag = int(elem.tag)
        if tag == 0x7FE00010 or elem.tag.group == 0x0002:
            continue
        vr = str(elem.VR)
        value = elem.value
        if vr in _BINARY_VRS and isinstance(value, bytes | bytearray) and len(value) > _MAX_INLINE:
            continue
        node = etree.SubElement(parent, "DicomAttribute")
        node.set("tag", f"{tag:08X}")
        node.set("vr", vr)
        if keywords and elem.keyword:
            node.set("keyword", elem.keyword)
        group, element = tag >> 16, tag & 0xFFFF
        if group & 1 and element > 0xFF:
            creator = creators.get((group << 16) | (element >> 8))
            if creator is not None:
                node.set("privateCreator", creator)
        if value is None or value == "" or value == b"":
            continue
        if vr == "SQ":
            for n, item in enumerate(value, 1):
                child = etree.SubElement(node, "Item", number=str(n))
                _write(etree, child, item, keywords)
        elif vr in _BINARY_VRS:
            etree.SubElement(node, "InlineBinary").text = base64.b64encode(bytes(value)).decode("ascii")
        elif vr == "PN":
            for n, pn in enumerate(_many(value), 1):
                person = etree.SubElement(node, "PersonName", number=str(n))
                groups = str(pn).split("=")
                for name, text in zip(_PN_GROUPS, groups, strict=False):
                    if not text:
                        continue
                    g = etree.SubElement(person, name)
                    for part, comp in zip(_PN_PARTS, text.split("^"), strict=False):
                        if comp:
                            etree.SubElement(g, part).text = comp
        else:
            for n, v in enumerate(_many(value), 1):
                if v is None or v == "":
                    continue
                text = f"{int(v):08X}" if vr == "AT" else str(v)
                etree.SubElement(node, "Value", number=str(n)).text = text


def _many(value: Any) -> list[Any]:
    from pydicom.multival import MultiValue

    return list(value) if isinstance(value, MultiValue | list | tuple) else [value]


def from_native_xml(root: Any) -> Dataset:
    """A pydicom data set from a ``NativeDicomModel`` element (the result of a stylesheet).

    Raises:
        ValueError: an attribute without a valid ``tag``, or a value that does not fit its VR.
    """
    from pydicom.dataset import Dataset as PydicomDataset

    ds = PydicomDataset()
    _read(root, ds)
    return ds


def _read(parent: Any, ds: Any) -> None:
    from pydicom.datadict import dictionary_VR
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset as PydicomDataset

    for node in parent:
        if not isinstance(node.tag, str) or node.tag.rpartition("}")[2] != "DicomAttribute":
            continue
        tag_text = node.get("tag", "")
        if not re.fullmatch(r"[0-9A-Fa-f]{8}", tag_text):
            raise ValueError(f"DicomAttribute with tag {tag_text!r}: expected 8 hex digits")
        tag = int(tag_text, 16)
        vr = node.get("vr")
        if not vr:
            try:
                vr = str(dictionary_VR(tag))
            except KeyError:
                vr = "UN"
        children = [c for c in node if isinstance(c.tag, str)]
        value: Any
        if vr == "SQ":
            items = []
            for c in children:
                if c.tag == "Item":
                    item = PydicomDataset()
                    _read(c, item)
                    items.append(item)
            value = items
        elif vr in _BINARY_VRS:
            inline = next((c for c in children if c.tag == "InlineBinary"), None)
            value = base64.b64decode(inline.text or "") if inline is not None else None
        elif vr == "PN":
            names = []
            for c in children:
                if c.tag != "PersonName":
                    continue
                groups = []
                for g in _PN_GROUPS:
                    gnode = c.find(g)
                    if gnode is None:
                        groups.append("")
                        continue
                    comps = [(gnode.findtext(p) or "") for p in _PN_PARTS]
                    groups.append("^".join(comps).rstrip("^"))
                names.append("=".join(groups).rstrip("="))
            value = names if len(names) > 1 else (names[0] if names else None)
        else:
            texts = [c.text or "" for c in children if c.tag == "Value"]
            converted: list[Any] = []
            for t in texts:
                if vr in _INT_VRS:
                    converted.append(int(t))
                elif vr in _FLOAT_VRS:
                    converted.append(float(t))
                elif vr == "AT":
                    converted.append(int(t, 16))
                else:
                    converted.append(t)
            value = converted if len(converted) > 1 else (converted[0] if converted else None)
        ds[tag] = DataElement(tag, vr, value)


class XsltProcessor:
    """``xslt:<stylesheet-URI>`` (``dcmCoercionParam: xsl-no-keyword=true`` leaves keywords out)."""

    def __init__(self) -> None:
        # compiled stylesheets per thread: an lxml XSLT object is not meant to be shared between threads
        self._local = threading.local()

    def check(self, rule: AttributeCoercion) -> None:
        _lxml()

    def _template(self, uri: str) -> Any:
        etree = _lxml()
        path = resolve_stylesheet(uri)
        key = (path.resolve(), path.stat().st_mtime)
        cache: dict[tuple[Path, float], Any] | None = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = {}
        found = cache.get(key)
        if found is not None:
            return found
        try:
            template = etree.XSLT(etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)))
        except (etree.XMLSyntaxError, etree.XSLTParseError) as exc:
            raise ConfigurationError(f"xslt: stylesheet {path} cannot be compiled: {exc}") from exc
        cache[key] = template
        return template

    def apply(self, uri: str, dataset: Dataset, context: CoercionContext, *, no_keywords: bool = False) -> None:
        """Transform ``dataset`` with the stylesheet at ``uri`` and add the result to it."""
        etree = _lxml()
        template = self._template(uri)
        params = {
            "SendingHostname": context.sending_hostname,
            "SendingApplicationEntityTitle": context.sending_ae_title,
            "ReceivingHostname": context.receiving_hostname,
            "ReceivingApplicationEntityTitle": context.receiving_ae_title,
        }
        xml = etree.ElementTree(to_native_xml(dataset, keywords=not no_keywords))
        result = template(xml, **{k: etree.XSLT.strparam(v) for k, v in params.items() if v is not None})
        root = result.getroot()
        if root is None:
            return
        added = from_native_xml(root)
        for elem in added:
            if int(elem.tag) == 0x00080005:
                continue  # the original Specific Character Set is kept
            dataset[elem.tag] = elem

    def coerce(self, rule: AttributeCoercion, dataset: Dataset, context: CoercionContext) -> bool:
        no_keywords = rule.params.get("xsl-no-keyword", "").strip().lower() == "true"
        self.apply(rule.scheme_specific_part, dataset, context, no_keywords=no_keywords)
        return True


XSLT = XsltProcessor()
