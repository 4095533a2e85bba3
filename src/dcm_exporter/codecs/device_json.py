"""Configuration <-> dcm4che device JSON (as dcm4chee-arc's ``/devices/{name}`` REST resource).

One device is one JSON object; every LDAP entry below the device is an object nested in it::

    {"dicomDeviceName": "dcm4chee-arc", "dicomInstalled": true,
     "dicomNetworkConnection": [{"cn": "dicom", "dicomHostname": "localhost", "dicomPort": 11112,
                                 "dcmNetworkConnection": {"dcmAARQTimeout": 5000}}],
     "dicomNetworkAE": [{"dicomAETitle": "DCM4CHEE",
                         "dicomNetworkConnectionReference": ["/dicomNetworkConnection/0"],
                         "dicomAssociationInitiator": true, "dicomAssociationAcceptor": true,
                         "dicomTransferCapability": [{..., "dcmTransferCapability": {...}}],
                         "dcmNetworkAE": {"dcmArchiveNetworkAE": {"dcmExportRule": [...]}}}],
     "dcmDevice": {"dcmWebApp": [...], "hl7Application": [...], "dcmImageReader": [...],
                   "dcmArchiveDevice": {"dcmFuzzyAlgorithmClass": "...", "dcmExporter": [...],
                                        "dcmQueue": [...], "dcmAttributeFilter": [...], ...}}}

The mapping works on LDAP entries (:mod:`dcm_exporter.codecs.ldap_mapping` turns models into entries and back),
so JSON carries exactly what LDIF carries for a device:

- **Attributes** sit in the object of the class that defines them: attributes of the structural class at the top
  of the entry's object, those of an auxiliary class in a nested object named after it (``dcmDevice``,
  ``dcmDevice.dcmArchiveDevice``, ``dcmNetworkAE.dcmArchiveNetworkAE``, ``dcmNetworkConnection``,
  ``dcmTransferCapability``, ``dcmArchiveHL7Application``). An auxiliary class without attributes is an empty
  object. Attributes the dcm4che schema does not know stay at the top of their object.
- **Values** are typed from the dcm4che LDAP schema: INTEGER attributes as numbers, Boolean ones as ``true`` /
  ``false``, multi-valued ones as arrays, the rest as strings. A value that would not read back the same (e.g.
  ``007`` in an integer attribute) stays a string. ``dicomNetworkConnectionReference`` values are JSON pointers
  ``/dicomNetworkConnection/<index>`` into the device's connections.
- **Child entries** are arrays of objects named after their structural object class, at the place dcm4che uses:
  connections and network AEs at the top of the device, transfer capabilities at the top of their AE, dcm4che's
  own children (``dcmWebApp``, ``dcmKeycloakClient``, ``hl7Application``, ``dcmAuditLogger``,
  ``dcmAuditRecordRepository`` as one object, ``dcmImageReader``, ``dcmImageWriter``) in ``dcmDevice``, and all
  other children in the parent's archive extension (``dcmDevice.dcmArchiveDevice``,
  ``dcmNetworkAE.dcmArchiveNetworkAE``, ``dcmArchiveHL7Application``) or, for any other parent, at the top of
  its object (``dcmAuditLogger.dcmAuditSuppressCriteria``). As in dcm4che, the image reader and writer factory
  entries (``cn=Image Reader Factory``) are not written: their members are ``dcmDevice.dcmImageReader[]`` and
  ``dcmDevice.dcmImageWriter[]``.
- **The generic form.** A child's RDN is taken from its attributes (``cn``, or the naming attribute of its class,
  e.g. ``dcmQueueName``, ``dcmEntity``, ``dcmAttributeSetID`` + ``dcmAttributeSetType``), its object classes from
  the member it is in and the nested class objects. When that would not give back the entry as it was (an
  unknown class with another naming attribute, object classes in another order, a device without
  ``dcmArchiveDevice`` that holds exporters, binary values), the object gets a member ``"_ldap"``:
  ``{"rdn": "<first RDN>", "objectClass": [...], "binary": {"<attribute>": ["<base64>", ...]}}`` (only the keys
  needed). The reader restores the entry from it.

Entries that are not below a device (the configuration roots, the unique AE title / web application name /
HL7 application name registries) are not part of device JSON, as in dcm4che; they stay in
:attr:`Configuration.other_entries <dcm_exporter.models.Configuration.other_entries>` for LDIF and LDAP only
(:func:`entries_outside_devices` lists them).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

import dcm_exporter.codecs._dcm4che_schema as _schema
from dcm_exporter.codecs.ldap_mapping import (
    OBJECT_SPECS,
    AttributeSpec,
    Kind,
    ObjectSpec,
    configuration_from_entries,
    configuration_to_entries,
    device_dn,
    devices_dn,
    escape_rdn_value,
    model_to_entries,
    normalize_dn,
    parse_dn,
)
from dcm_exporter.codecs.ldap_mapping.table import _NO_DEFAULT
from dcm_exporter.errors import ConfigurationError, DcmExporterError, JsonCodecError
from dcm_exporter.models import (
    DEFAULT_BASE_DN,
    Configuration,
    Device,
    LdapEntry,
    parse_duration,
)
from dcm_exporter.schedule import Schedules

__all__ = [
    "JSON_EXTRA_PREFIX",
    "LDAP_MEMBER",
    "configuration_from_json",
    "configuration_to_json",
    "device_from_json",
    "device_to_json",
    "dumps",
    "entries_outside_devices",
    "load",
    "loads",
]

JSON_EXTRA_PREFIX = "json:"
"""Prefix of ``extra`` keys that earlier versions used for JSON members (still written back to LDIF as values)."""

LDAP_MEMBER = "_ldap"
"""The member holding what the rest of an object cannot say about its LDAP entry (see the module docs)."""

_CONN_POINTER = "/dicomNetworkConnection/"
_CONN_REF = "dicomnetworkconnectionreference"

Value = str | bytes
Entry = tuple[str, dict[str, list[Value]]]

# --- the layout tables -----------------------------------------------------------------------------------

_lower = {name: frozenset(n.lower() for n in names) for name, names in _schema.CLASS_ATTRIBUTES.items()}
_CLASS_ATTRS: dict[str, frozenset[str]] = {k.lower(): v for k, v in _lower.items()}
_INTEGER = frozenset(n.lower() for n in _schema.INTEGER)
_BOOLEAN = frozenset(n.lower() for n in _schema.BOOLEAN)
_MULTI = frozenset(n.lower() for n in _schema.MULTI_VALUED)
_AUX = frozenset(c.lower() for c in _schema.AUXILIARY_CLASSES)
_JSON_BOOLEAN = frozenset({"dicomvendordata"})
"""Attributes whose JSON type (device.schema.json: one boolean) is not what their LDAP syntax says."""

_AUX_PATH: dict[str, tuple[str, ...]] = {
    "dcmarchivedevice": ("dcmDevice", "dcmArchiveDevice"),
    "dcmarchivenetworkae": ("dcmNetworkAE", "dcmArchiveNetworkAE"),
}
"""Auxiliary classes nested in another one; any other auxiliary class ``X`` is the member ``X``."""

_EXTENSION: dict[str, tuple[str, ...]] = {
    "dicomdevice": ("dcmDevice", "dcmArchiveDevice"),
    "dicomnetworkae": ("dcmNetworkAE", "dcmArchiveNetworkAE"),
    "hl7application": ("dcmArchiveHL7Application",),
}
"""Where children of a structural class go unless :data:`_CHILD_PLACE` says otherwise."""

_CHILD_PLACE: dict[tuple[str, str], tuple[str, ...]] = {
    ("dicomdevice", "dicomnetworkconnection"): (),
    ("dicomdevice", "dicomnetworkae"): (),
    ("dicomdevice", "dcmwebapp"): ("dcmDevice",),
    ("dicomdevice", "dcmkeycloakclient"): ("dcmDevice",),
    ("dicomdevice", "hl7application"): ("dcmDevice",),
    ("dicomdevice", "dcmauditlogger"): ("dcmDevice",),
    ("dicomdevice", "dcmauditrecordrepository"): ("dcmDevice",),
    ("dicomdevice", "dcmimagereaderfactory"): ("dcmDevice",),
    ("dicomdevice", "dcmimagewriterfactory"): ("dcmDevice",),
    ("dicomnetworkae", "dicomtransfercapability"): (),
}
"""(parent class, child class) -> the child's place in the parent's object (dcm4che's ``dcmDevice`` members)."""

_SINGLE = frozenset({"dcmauditrecordrepository"})
"""Child classes written as one object, not an array, when there is one entry."""


@attrs.frozen
class _Factory:
    object_class: str
    cn: str
    member_key: str


_FACTORIES: dict[str, _Factory] = {
    "dcmimagereaderfactory": _Factory("dcmImageReaderFactory", "Image Reader Factory", "dcmImageReader"),
    "dcmimagewriterfactory": _Factory("dcmImageWriterFactory", "Image Writer Factory", "dcmImageWriter"),
}
"""Entries dcm4che leaves out of JSON: their children are ``dcmDevice.<member_key>[]``."""
_FACTORY_BY_KEY = {f.member_key: f for f in _FACTORIES.values()}

_RDNS: dict[str, tuple[tuple[str, ...], ...]] = {
    "dicomdevice": (("dicomDeviceName",),),
    "dicomnetworkconnection": (("cn",), ("dicomHostname", "dicomPort"), ("dicomHostname",)),
    "dicomnetworkae": (("dicomAETitle",),),
    "dicomtransfercapability": (("cn",), ("dicomSOPClass", "dicomTransferRole")),
    "dcmexporter": (("dcmExporterID",),),
    "dcmqueue": (("dcmQueueName",),),
    "dcmstorage": (("dcmStorageID",),),
    "dcmwebapp": (("dcmWebAppName",),),
    "dcmkeycloakclient": (("dcmKeycloakClientID",),),
    "hl7application": (("hl7ApplicationName",),),
    "dcmimagereader": (("dicomTransferSyntax",),),
    "dcmimagewriter": (("dicomTransferSyntax",),),
    "dcmattributefilter": (("dcmEntity",),),
    "dcmattributeset": (("dcmAttributeSetID", "dcmAttributeSetType"),),
    "dcmbulkdatadescriptor": (("dcmBulkDataDescriptorID",),),
    "dcmidgenerator": (("dcmIDGeneratorName",),),
    "dcmmetrics": (("dcmMetricsName",),),
    "dcmqueryretrieveview": (("dcmQueryRetrieveViewID",),),
    "dcmrejectionnote": (("dcmRejectionNoteLabel",),),
    "dcmupsprocessingrule": (("dcmUPSProcessingRuleID",),),
    "hl7orderspsstatus": (("dcmSPSStatus",),),
}
"""Naming attributes by class, tried in order; any other class is named by ``cn``."""
_DEFAULT_RDN: tuple[tuple[str, ...], ...] = (("cn",),)

_SPECS: dict[str, ObjectSpec] = {s.object_class.lower(): s for s in OBJECT_SPECS}
_COERCION_SPECS = frozenset({"dcmarchiveattributecoercion2", "dcmarchiveattributecoercion"})
_DEVICE_CHILD_SPECS = frozenset(
    {"dicomnetworkconnection", "dicomnetworkae", "dcmexporter", "dcmqueue", "dcmexportrule", "dcmwebapp", "dcmstorage"}
) | _COERCION_SPECS
_AE_CHILD_SPECS = frozenset({"dicomtransfercapability", "dcmexportrule"}) | _COERCION_SPECS

_CANONICAL: dict[str, str] = {
    c.lower(): c
    for c in (
        *_schema.CLASS_ATTRIBUTES,
        *_schema.AUXILIARY_CLASSES,
        *(s.object_class for s in OBJECT_SPECS),
        *(f.object_class for f in _FACTORIES.values()),
        "dcmKeycloakClient",
        "dcmAuditLogger",
        "dcmAuditRecordRepository",
        "dcmAuditSuppressCriteria",
        "dcmImageReader",
        "dcmImageWriter",
        "dcmAttributeFilter",
        "dcmAttributeSet",
        "dcmBulkDataDescriptor",
        "dcmIDGenerator",
        "dcmMetrics",
        "dcmQueryRetrieveView",
        "dcmRejectionNote",
        "dcmUPSProcessingRule",
        "hl7OrderSPSStatus",
        "hl7OrderScheduledStation",
        "dcmArchiveAttributeCoercion2",
    )
}


def _aux_path(aux: str) -> tuple[str, ...]:
    return _AUX_PATH.get(aux.lower(), (aux,))


def _structural(classes: Sequence[str]) -> str:
    for c in classes:
        if c.lower() not in _AUX and c.lower() != "top":
            return c
    return classes[0] if classes else "top"


# --- writing ---------------------------------------------------------------------------------------------


@attrs.define
class _Node:
    dn: str
    attributes: dict[str, list[Value]]
    classes: list[str]
    children: list[_Node] = attrs.field(factory=list)


def _first_rdn(dn: str) -> str:
    rdns = parse_dn(dn)
    if not rdns:
        return ""
    return "+".join(f"{a}={escape_rdn_value(v)}" for a, v in rdns[0])


def _rdn_from(class_low: str, attributes: Mapping[str, Sequence[Any]]) -> str | None:
    """The RDN the reader infers from an entry's attributes (``None`` if none fits)."""
    by_low = {k.lower(): (k, v) for k, v in attributes.items()}
    for candidate in _RDNS.get(class_low, _DEFAULT_RDN):
        parts = []
        for attr in candidate:
            found = by_low.get(attr.lower())
            if found is None or len(found[1]) != 1 or not isinstance(found[1][0], str):
                break
            parts.append(f"{found[0]}={escape_rdn_value(found[1][0])}")
        else:
            return "+".join(parts)
    return None


def _container(obj: dict[str, Any], path: Sequence[str]) -> dict[str, Any]:
    for part in path:
        nxt = obj.get(part)
        if not isinstance(nxt, dict):
            nxt = obj[part] = {}
        obj = nxt
    return obj


def _canonical_int(text: str) -> int | None:
    try:
        number = int(text)
    except ValueError:
        return None
    return number if str(number) == text else None


def _json_scalar(low: str, kind: Kind | None, text: str) -> Any:
    if kind is Kind.INT or (kind is None and low in _INTEGER):
        number = _canonical_int(text)
        return text if number is None else number
    if kind in (Kind.BOOL, Kind.OPT_BOOL) or (kind is None and low in _BOOLEAN):
        return {"TRUE": True, "FALSE": False}.get(text, text)
    return text


_LIST_KINDS = (Kind.STRS, Kind.SCHEDULES, Kind.PROPERTIES, Kind.CONN_REFS)


@attrs.frozen
class _WriteContext:
    conn_index: Mapping[str, int]


def _json_values(
    name: str, values: list[str], row: AttributeSpec | None, ctx: _WriteContext, naming: bool = False
) -> Any:
    low = name.lower()
    if low == _CONN_REF:
        out: list[str] = []
        for v in values:
            index = ctx.conn_index.get(normalize_dn(v))
            out.append(f"{_CONN_POINTER}{index}" if index is not None else v)
        return out
    kind = row.kind if row is not None else (Kind.BOOL if low in _JSON_BOOLEAN else None)
    typed = [_json_scalar(low, kind, v) for v in values]
    multi = kind in _LIST_KINDS if kind is not None else (low in _MULTI and not naming)
    if multi or len(typed) != 1:
        return typed
    return typed[0]


def _attribute_place(low: str, structural: str, aux: Sequence[str]) -> tuple[str, ...]:
    if low in _CLASS_ATTRS.get(structural.lower(), frozenset()):
        return ()
    for c in aux:
        if low in _CLASS_ATTRS.get(c.lower(), frozenset()):
            return _aux_path(c)
    return ()


def _inferred_classes(key_class: str, obj: Mapping[str, Any]) -> list[str]:
    classes = [key_class]

    def walk(o: Mapping[str, Any]) -> None:
        for k, v in o.items():
            if k != LDAP_MEMBER and isinstance(v, Mapping) and k.lower() not in _SINGLE:
                classes.append(k)
                walk(v)

    walk(obj)
    return classes


def _flattenable(node: _Node, factory: _Factory) -> bool:
    attrs_ = {k.lower(): v for k, v in node.attributes.items()}
    return (
        bool(node.children)
        and node.classes == [factory.object_class]
        and attrs_ == {"cn": [factory.cn]}
        and _first_rdn(node.dn) == f"cn={escape_rdn_value(factory.cn)}"
        and all(_structural(c.classes).lower() == factory.member_key.lower() for c in node.children)
    )


def _node_to_json(node: _Node, key_class: str, parent_low: str | None, ctx: _WriteContext) -> dict[str, Any]:
    structural = _structural(node.classes)
    s_low = structural.lower()
    spec = _SPECS.get(s_low)
    rows = spec.by_ldap() if spec is not None else {}
    aux = [c for c in node.classes if c.lower() in _AUX]
    obj: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for c in aux:
        _container(obj, _aux_path(c))
    rdns = parse_dn(node.dn)
    naming = {a.lower() for a, _ in rdns[0]} if rdns and parent_low is not None else set()
    for name, values in node.attributes.items():
        low = name.lower()
        if any(isinstance(v, bytes) for v in values):
            meta.setdefault("binary", {})[name] = [
                base64.b64encode(v if isinstance(v, bytes) else v.encode("utf-8")).decode("ascii") for v in values
            ]
            continue
        texts = [v for v in values if isinstance(v, str)]
        _container(obj, _attribute_place(low, structural, aux))[name] = _json_values(
            name, texts, rows.get(low), ctx, low in naming
        )
    groups: dict[tuple[tuple[str, ...], str], list[dict[str, Any]]] = {}
    for child in node.children:
        c_struct = _structural(child.classes)
        c_low = c_struct.lower()
        factory = _FACTORIES.get(c_low)
        if factory is not None and s_low == "dicomdevice" and _flattenable(child, factory):
            key = (("dcmDevice",), factory.member_key)
            for member in child.children:
                groups.setdefault(key, []).append(_node_to_json(member, factory.member_key, c_low, ctx))
            continue
        place = _CHILD_PLACE.get((s_low, c_low), _EXTENSION.get(s_low, ()))
        c_key = _CANONICAL.get(c_low, c_struct)
        groups.setdefault((place, c_key), []).append(_node_to_json(child, c_key, s_low, ctx))
    for (place, c_key), objs in groups.items():
        target = _container(obj, place)
        if c_key.lower() in _SINGLE and len(objs) == 1:
            target[c_key] = objs[0]
        else:
            target.setdefault(c_key, []).extend(objs)
    if _inferred_classes(key_class, obj) != node.classes:
        meta["objectClass"] = list(node.classes)
    if parent_low is not None:
        rdn = _first_rdn(node.dn)
        plain = {k: v for k, v in node.attributes.items() if k not in meta.get("binary", {})}
        if _rdn_from(_CANONICAL.get(key_class.lower(), key_class).lower(), plain) != rdn:
            meta["rdn"] = rdn
    if meta:
        obj[LDAP_MEMBER] = {k: meta[k] for k in ("rdn", "objectClass", "binary") if k in meta}
    return obj


def _split_classes(attributes: Mapping[str, Sequence[Value]]) -> tuple[list[str], dict[str, list[Value]]]:
    classes: list[str] = []
    rest: dict[str, list[Value]] = {}
    for name, values in attributes.items():
        if name.lower() == "objectclass":
            classes.extend(v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values)
        else:
            rest.setdefault(name, []).extend(values)
    return classes, rest


def _device_trees(
    entries: Iterable[tuple[str, Mapping[str, Sequence[Value]]]], base_dn: str
) -> tuple[list[_Node], list[tuple[str, Mapping[str, Sequence[Value]]]]]:
    """Device subtrees (in order) and the entries below no device."""
    root = normalize_dn(devices_dn(base_dn))
    by_norm: dict[str, _Node] = {}
    devices: list[_Node] = []
    outside: list[tuple[str, Mapping[str, Sequence[Value]]]] = []
    pending: list[tuple[str, str, _Node, tuple[str, Mapping[str, Sequence[Value]]]]] = []
    for dn, attributes in entries:
        try:
            rdns = parse_dn(dn)
        except ConfigurationError:
            outside.append((dn, attributes))
            continue
        norm = normalize_dn(dn)
        parent = normalize_dn(",".join("+".join(f"{a}={escape_rdn_value(v)}" for a, v in rdn) for rdn in rdns[1:]))
        classes, rest = _split_classes(attributes)
        node = _Node(dn, rest, classes)
        if parent == root and any(c.lower() == "dicomdevice" for c in classes):
            devices.append(node)
            by_norm[norm] = node
        else:
            pending.append((norm, parent, node, (dn, attributes)))
    # parents come before children in configuration_to_entries, but do not rely on it
    changed = True
    while pending and changed:
        changed = False
        left = []
        for item in pending:
            norm, parent, node, _raw = item
            owner = by_norm.get(parent)
            if owner is not None:
                owner.children.append(node)
                by_norm[norm] = node
                changed = True
            else:
                left.append(item)
        pending = left
    outside.extend(raw for _, _, _, raw in pending)
    return devices, outside


def _device_node_to_json(node: _Node) -> dict[str, Any]:
    conns = [c for c in node.children if _structural(c.classes).lower() == "dicomnetworkconnection"]
    ctx = _WriteContext({normalize_dn(c.dn): i for i, c in enumerate(conns)})
    return _node_to_json(node, "dicomDevice", None, ctx)


def device_to_json(
    device: Device,
    *,
    other_entries: Iterable[LdapEntry] = (),
    base_dn: str = DEFAULT_BASE_DN,
) -> dict[str, Any]:
    """One :class:`Device` as a dcm4che device JSON object (defaults omitted).

    Args:
        device: the device.
        other_entries: entries no model covers (e.g. :attr:`Configuration.other_entries`); those below the
            device are written in it, the rest are ignored.
        base_dn: the base DN the device lives under (it only matters for ``other_entries``).
    """
    entries: list[tuple[str, Mapping[str, Sequence[Value]]]] = list(model_to_entries(device, devices_dn(base_dn)))
    below = "," + normalize_dn(device_dn(device.device_name, base_dn))
    entries.extend((e.dn, e.attributes) for e in other_entries if normalize_dn(e.dn).endswith(below))
    trees, _ = _device_trees(entries, base_dn)
    return _device_node_to_json(trees[0])


def dumps(config: Configuration, *, indent: int | None = 2) -> str:
    """The devices of a configuration as a JSON array of dcm4che device objects.

    Every entry below a device is written (see the module docs); :func:`entries_outside_devices` are not.
    """
    trees, _ = _device_trees(configuration_to_entries(config), config.base_dn)
    return json.dumps([_device_node_to_json(t) for t in trees], indent=indent)


def entries_outside_devices(config: Configuration) -> list[LdapEntry]:
    """The entries of a configuration that device JSON does not hold (roots, unique-name registries, ...)."""
    _, outside = _device_trees(configuration_to_entries(config), config.base_dn)
    return [LdapEntry(dn=dn, attributes={k: tuple(v) for k, v in a.items()}) for dn, a in outside]


# --- reading ---------------------------------------------------------------------------------------------


def _fail(message: str, path: str) -> JsonCodecError:
    return JsonCodecError(message, path=path or "$")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _object(obj: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise _fail(f"expected an object, got {type(obj).__name__}", path)
    return obj


@attrs.frozen
class _Pointer:
    """A ``/dicomNetworkConnection/<index>`` reference, resolved once all connections are read."""

    index: int
    path: str


@attrs.define
class _ReadContext:
    entries: list[tuple[str, dict[str, list[Any]]]] = attrs.field(factory=list)
    paths: dict[str, str] = attrs.field(factory=dict)  # normalised DN -> JSON path
    connections: list[str] = attrs.field(factory=list)  # DNs of the device's connections, in order


def _strings(raw: Any, path: str) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise _fail("expected an array of strings", path)
    return list(raw)


def _modelled_values(row: AttributeSpec, raw: Any, path: str) -> list[Any]:
    """Check a modelled attribute's JSON value against its kind; its LDAP values."""
    kind = row.kind
    if kind is Kind.STR:
        if not isinstance(raw, str):
            raise _fail(f"expected a string, got {type(raw).__name__}", path)
        return [raw]
    if kind is Kind.INT:
        if isinstance(raw, bool) or not isinstance(raw, int):
            if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
                return [raw.strip()]
            raise _fail(f"expected an integer, got {raw!r}", path)
        return [str(raw)]
    if kind in (Kind.BOOL, Kind.OPT_BOOL):
        if not isinstance(raw, bool):
            raise _fail(f"expected true or false, got {raw!r}", path)
        return ["TRUE" if raw else "FALSE"]
    if kind is Kind.DURATION:
        if not isinstance(raw, str):
            raise _fail(f"expected an ISO-8601 duration string, got {raw!r}", path)
        try:
            parse_duration(raw)
        except DcmExporterError as exc:
            raise _fail(str(exc), path) from None
        return [raw]
    if kind is Kind.ENUM:
        assert row.enum_type is not None
        if not isinstance(raw, str):
            raise _fail(f"expected a string, got {raw!r}", path)
        try:
            row.enum_type.parse(raw.split("|", 1)[0])  # type: ignore[attr-defined]
        except ValueError as exc:
            raise _fail(str(exc), path) from None
        return [raw]
    texts = _strings(raw, path)
    if kind is Kind.SCHEDULES:
        try:
            Schedules.parse(texts)
        except (DcmExporterError, ValueError) as exc:
            raise _fail(str(exc), path) from exc
    elif kind is Kind.PROPERTIES:
        for i, text in enumerate(texts):
            if "=" not in text:
                raise _fail(f"{text!r} has no '=': expected key=value", _join(path, i))
    return list(texts)


def _generic_values(raw: Any, path: str) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for i, v in enumerate(items):
        where = _join(path, i) if isinstance(raw, list) else path
        if isinstance(v, bool):
            out.append("TRUE" if v else "FALSE")
        elif isinstance(v, int):
            out.append(str(v))
        elif isinstance(v, float):
            out.append(json.dumps(v))
        elif isinstance(v, str):
            out.append(v)
        elif v is None:
            continue
        else:
            raise _fail(f"expected a string, number or boolean, got {type(v).__name__}", where)
    return out


def _references(raw: Any, path: str) -> list[Any]:
    out: list[Any] = []
    for i, ref in enumerate(_strings(raw, path)):
        where = _join(path, i) if isinstance(raw, list) else path
        if ref.startswith("/"):
            tail = ref[len(_CONN_POINTER) :]
            if not ref.startswith(_CONN_POINTER) or not tail.isdigit():
                raise _fail(f"expected a reference like '/dicomNetworkConnection/0', got {ref!r}", where)
            out.append(_Pointer(int(tail), where))
        else:
            out.append(ref)  # a DN, as LDAP writes it
    return out


def _read_meta(raw: Any, path: str) -> tuple[str | None, list[str] | None, dict[str, list[bytes]]]:
    meta = _object(raw, path)
    rdn = meta.get("rdn")
    if rdn is not None and not isinstance(rdn, str):
        raise _fail("expected a string (an RDN like 'cn=name')", _join(path, "rdn"))
    classes = _strings(meta["objectClass"], _join(path, "objectClass")) if "objectClass" in meta else None
    binary: dict[str, list[bytes]] = {}
    bin_path = _join(path, "binary")
    for name, values in _object(meta.get("binary", {}), bin_path).items():
        try:
            binary[name] = [base64.b64decode(v, validate=True) for v in _strings(values, _join(bin_path, name))]
        except binascii.Error as exc:
            raise _fail(f"not base64: {exc}", _join(bin_path, name)) from None
    unknown = set(meta) - {"rdn", "objectClass", "binary"}
    if unknown:
        raise _fail(f"unknown member(s) {', '.join(sorted(unknown))}", path)
    return rdn, classes, binary


def _read_entry(
    obj: Any,
    path: str,
    key_class: str,
    parent_dn: str,
    parent_low: str | None,
    ctx: _ReadContext,
) -> str:
    """Turn one JSON object (and, recursively, its children) into entries; its DN."""
    obj = _object(obj, path)
    classes = [key_class]
    values: dict[str, list[Any]] = {}
    value_paths: dict[str, str] = {}
    raw_values: list[tuple[str, Any, str]] = []
    children: list[tuple[str, Any, str, tuple[str, ...]]] = []

    def walk(o: Mapping[str, Any], opath: str, where: tuple[str, ...]) -> None:
        for key, raw in o.items():
            kpath = _join(opath, key)
            if not where and key == LDAP_MEMBER:
                continue
            if isinstance(raw, Mapping):
                if key.lower() in _SINGLE:
                    children.append((key, raw, kpath, where))
                else:
                    classes.append(key)
                    walk(raw, kpath, (*where, key))
            elif isinstance(raw, list) and raw and any(isinstance(x, Mapping) for x in raw):
                for i, x in enumerate(raw):
                    if not isinstance(x, Mapping):
                        raise _fail("expected an object (an array mixes objects and values)", _join(kpath, i))
                    children.append((key, x, _join(kpath, i), where))
            else:
                raw_values.append((key, raw, kpath))

    walk(obj, path, ())
    rdn_meta, classes_meta, binary = (
        _read_meta(obj[LDAP_MEMBER], _join(path, LDAP_MEMBER)) if LDAP_MEMBER in obj else (None, None, {})
    )
    if classes_meta is not None:
        classes = classes_meta
    s_low = _structural(classes).lower()
    modelled = (
        (parent_low is None and s_low == "dicomdevice")
        or (parent_low == "dicomdevice" and s_low in _DEVICE_CHILD_SPECS)
        or (parent_low == "dicomnetworkae" and s_low in _AE_CHILD_SPECS)
    )
    spec = _SPECS.get(s_low) if modelled else None
    rows = spec.by_ldap() if spec is not None else {}
    if s_low == "dcmarchiveattributecoercion2":
        raw_values = _upstream_on_failure_key(raw_values)
    for key, raw, kpath in raw_values:
        low = key.lower()
        if raw is None:
            continue
        if low == _CONN_REF:
            converted = _references(raw, kpath)
        elif low in rows:
            converted = _modelled_values(rows[low], raw, kpath)
        else:
            converted = _generic_values(raw, kpath)
        if not converted:
            continue  # [] or [null]: no values, no attribute (as dcm4che writes nothing for them)
        if key in values:
            values[key].extend(converted)
        else:
            values[key] = converted
            value_paths[key] = kpath
    for name, data in binary.items():
        values.setdefault(name, []).extend(data)
    if spec is not None:
        present = {k.lower() for k, v in values.items() if v}
        for row in spec.attributes:
            if row.required and row.default is _NO_DEFAULT and row.ldap.lower() not in present:
                raise _fail(f"missing {row.ldap}", path)
    rdn = rdn_meta
    if rdn is None:
        plain = {k: v for k, v in values.items() if k not in binary}
        rdn = _rdn_from(_CANONICAL.get(key_class.lower(), key_class).lower(), plain)
        if rdn is None:
            names = " or ".join("+".join(c) for c in _RDNS.get(key_class.lower(), _DEFAULT_RDN))
            raise _fail(f"cannot name this {key_class} entry: it needs {names} (one value each)", path)
    dn = f"{rdn},{parent_dn}"
    norm = normalize_dn(dn)
    if norm in ctx.paths:
        raise _fail(f"a second entry {rdn!r} (the first is at {ctx.paths[norm]})", path)
    ctx.paths[norm] = path
    ctx.entries.append((dn, {"objectClass": list(classes), **values}))
    if parent_low == "dicomdevice" and s_low == "dicomnetworkconnection":
        ctx.connections.append(dn)
    factories: dict[str, str] = {}
    for key, child, cpath, where in children:
        factory = _FACTORY_BY_KEY.get(key) if s_low == "dicomdevice" and where == ("dcmDevice",) else None
        if factory is not None:
            fdn = factories.get(key)
            if fdn is None:
                fdn = f"cn={escape_rdn_value(factory.cn)},{dn}"
                fnorm = normalize_dn(fdn)
                if fnorm in ctx.paths:
                    raise _fail(f"{key} next to a {factory.object_class} entry of the same name", cpath)
                ctx.paths[fnorm] = cpath.rsplit("[", 1)[0]
                ctx.entries.append((fdn, {"objectClass": [factory.object_class], "cn": [factory.cn]}))
                factories[key] = fdn
            _read_entry(child, cpath, key, fdn, factory.object_class.lower(), ctx)
            continue
        _read_entry(child, cpath, key, dn, s_low, ctx)
    return dn


_ON_FAILURE_VALUES = frozenset({"RETHROW", "CONTINUE", "SUFFICIENT"})


def _upstream_on_failure_key(raw_values: list[tuple[str, Any, str]]) -> list[tuple[str, Any, str]]:
    """dcm4chee-arc 5.35 writes ``dcmCoercionOnFailure`` under the key ``dcmCoercionSufficient`` (a bug in
    ``JsonArchiveConfiguration``): a text value there that is an on-failure policy is read as what it is."""
    keys = {k.lower() for k, _, _ in raw_values}
    if "dcmcoerciononfailure" in keys:
        return raw_values
    return [
        ("dcmCoercionOnFailure", raw, path)
        if key.lower() == "dcmcoercionsufficient" and isinstance(raw, str) and raw.upper() in _ON_FAILURE_VALUES
        else (key, raw, path)
        for key, raw, path in raw_values
    ]


def _device_entries(obj: Any, path: str, base_dn: str, ctx: _ReadContext) -> None:
    obj = _object(obj, path)
    name = obj.get("dicomDeviceName")
    if name is None:
        raise _fail("missing dicomDeviceName", path)
    if not isinstance(name, str):
        raise _fail(f"expected a string, got {type(name).__name__}", _join(path, "dicomDeviceName"))
    start = len(ctx.entries)
    ctx.connections = []
    _read_entry(obj, path, "dicomDevice", devices_dn(base_dn), None, ctx)
    for _, attributes in ctx.entries[start:]:
        for key, vals in attributes.items():
            if key.lower() != _CONN_REF:
                continue
            resolved: list[Any] = []
            for v in vals:
                if isinstance(v, _Pointer):
                    if v.index >= len(ctx.connections):
                        raise _fail(f"connection reference '{_CONN_POINTER}{v.index}' points nowhere", v.path)
                    resolved.append(ctx.connections[v.index])
                else:
                    resolved.append(v)
            vals[:] = resolved


def _from_entries(ctx: _ReadContext, base_dn: str) -> Configuration:
    try:
        return configuration_from_entries(ctx.entries, base_dn=base_dn)
    except ConfigurationError as exc:
        message = str(exc)
        if exc.dn is not None:
            message = message.removesuffix(f" (in {exc.dn})")
            path = ctx.paths.get(normalize_dn(exc.dn))
            if path is not None:
                raise JsonCodecError(message, path=path) from None
        raise JsonCodecError(message) from None


def device_from_json(obj: Any, *, path: str = "", base_dn: str = DEFAULT_BASE_DN) -> Device:
    """Build a :class:`Device` from one dcm4che device JSON object.

    Child entries no model covers (audit loggers, image readers, attribute filters, ...) are not part of a
    :class:`Device`: read with :func:`configuration_from_json` to keep them (in ``other_entries``).

    Raises:
        JsonCodecError: a value of the wrong type, a missing required member, a dangling connection
            reference or an invalid model, with its JSON path.
    """
    ctx = _ReadContext()
    _device_entries(obj, path, base_dn, ctx)
    return _from_entries(ctx, base_dn).devices[0]


def loads(source: str | bytes | Any, *, base_dn: str = DEFAULT_BASE_DN) -> Configuration:
    """Read one device object, a list of them, or ``{"devices": [...]}`` (text or already parsed JSON).

    Every object below a device becomes an LDAP entry: modelled ones become models, the others
    :attr:`Configuration.other_entries` (with DNs below ``base_dn``).

    Raises:
        JsonCodecError: malformed JSON (also text that is not UTF-8, nesting deeper than Python's recursion
            limit, an integer of more digits than Python converts) or any problem in a device, with its JSON
            path.
    """
    data = source
    if isinstance(source, str | bytes):
        try:
            data = json.loads(source)
        except json.JSONDecodeError as exc:
            raise JsonCodecError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        except UnicodeDecodeError as exc:
            raise JsonCodecError(f"not JSON: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except RecursionError:
            # the json module's decoder recurses once per level: deeper than Python's recursion limit
            raise JsonCodecError("not JSON this reader takes: arrays or objects nested too deeply") from None
        except ValueError as exc:  # an integer of more digits than Python converts (sys.int_info)
            raise JsonCodecError(f"not JSON this reader takes: {exc}") from None
    if isinstance(data, Mapping) and "devices" in data and "dicomDeviceName" not in data:
        data = data["devices"]
        prefix = "devices"
    else:
        prefix = ""
    items = data if isinstance(data, list) else [data]
    ctx = _ReadContext()
    for i, d in enumerate(items):
        _device_entries(d, f"{prefix}[{i}]" if isinstance(data, list) else prefix, base_dn, ctx)
    return _from_entries(ctx, base_dn)


def load(path: str | os.PathLike[str], *, base_dn: str = DEFAULT_BASE_DN) -> Configuration:
    """:func:`loads` of a device JSON file (UTF-8).

    Raises:
        JsonCodecError: the file cannot be read, malformed JSON or any problem in a device.
    """
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise JsonCodecError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from None
    return loads(text, base_dn=base_dn)


configuration_from_json = loads
"""The older name of :func:`loads`."""
configuration_to_json = dumps
"""The older name of :func:`dumps`."""
