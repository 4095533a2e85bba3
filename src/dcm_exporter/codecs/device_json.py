"""Configuration models <-> dcm4che device JSON (as dcm4chee-arc's ``/devices/{name}`` REST resource).

One device is one JSON object::

    {"dicomDeviceName": "dcm4chee-arc", "dicomInstalled": true,
     "dicomNetworkConnection": [{"cn": "dicom", "dicomHostname": "localhost", "dicomPort": 11112,
                                 "dcmNetworkConnection": {"dcmAARQTimeout": 5000}}],
     "dicomNetworkAE": [{"dicomAETitle": "DCM4CHEE",
                         "dicomNetworkConnectionReference": ["/dicomNetworkConnection/0"],
                         "dicomAssociationInitiator": true, "dicomAssociationAcceptor": true,
                         "dicomTransferCapability": [...],
                         "dcmNetworkAE": {"dcmArchiveNetworkAE": {"dcmExportRule": [...]}}}],
     "dcmDevice": {"dcmWebApp": [...],
                   "dcmArchiveDevice": {"dcmExporter": [...], "dcmQueue": [...], "dcmExportRule": [...],
                                        "dcmStorage": [...]}}}

Attribute names and the auxiliary-class nesting come from the same table as the LDAP mapping
(:data:`dcm_exporter.codecs.ldap_mapping.OBJECT_SPECS`); values are typed (booleans, integers, arrays).

Members the models do not know are kept in the model's ``extra`` under ``json:<path>`` (e.g.
``json:dcmDevice/hl7Application``) as compact JSON text and written back at the same place. Unknown LDAP
attributes read from LDIF are written at the top level of their object (``TRUE``/``FALSE`` as booleans).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dcm_exporter.codecs.ldap_mapping import (
    _NO_DEFAULT,
    AE_SPEC,
    CONNECTION_SPEC,
    DEVICE_SPEC,
    EXPORTER_SPEC,
    QUEUE_SPEC,
    RULE_SPEC,
    STORAGE_SPEC,
    TC_SPEC,
    WEBAPP_SPEC,
    AttributeSpec,
    Kind,
    ObjectSpec,
    _is_default,
)
from dcm_exporter.errors import DcmExporterError, JsonCodecError
from dcm_exporter.models import (
    DEFAULT_BASE_DN,
    Configuration,
    Connection,
    Device,
    format_duration,
    parse_duration,
)
from dcm_exporter.schedule import Schedules

__all__ = [
    "JSON_EXTRA_PREFIX",
    "configuration_from_json",
    "configuration_to_json",
    "device_from_json",
    "device_to_json",
]

JSON_EXTRA_PREFIX = "json:"
"""Prefix of ``extra`` keys that hold JSON members no model knows (value: compact JSON text)."""

_CONN_POINTER = "/dicomNetworkConnection/"


# --- reading -------------------------------------------------------------------------------------------


def _fail(message: str, path: str) -> JsonCodecError:
    return JsonCodecError(message, path=path or "$")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _value(aspec: AttributeSpec, raw: Any, path: str, conn_keys: list[str] | None) -> Any:
    kind = aspec.kind
    if kind is Kind.STR:
        if not isinstance(raw, str):
            raise _fail(f"expected a string, got {type(raw).__name__}", path)
        return raw
    if kind in (Kind.STRS, Kind.SCHEDULES, Kind.PROPERTIES, Kind.CONN_REFS):
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            raise _fail("expected an array of strings", path)
        if kind is Kind.STRS:
            return tuple(raw)
        if kind is Kind.SCHEDULES:
            try:
                return Schedules.parse(raw)
            except (DcmExporterError, ValueError) as exc:
                raise _fail(str(exc), path) from exc
        if kind is Kind.PROPERTIES:
            for i, text in enumerate(raw):
                if "=" not in text:
                    raise _fail(f"{text!r} has no '=': expected key=value", _join(path, i))
            return tuple(raw)
        refs = []
        for i, ref in enumerate(raw):
            if not ref.startswith(_CONN_POINTER) or not ref[len(_CONN_POINTER) :].isdigit():
                raise _fail(
                    f"expected a reference like '/dicomNetworkConnection/0', got {ref!r}", _join(path, i)
                )
            index = int(ref[len(_CONN_POINTER) :])
            if conn_keys is None or index >= len(conn_keys):
                raise _fail(f"connection reference {ref!r} points nowhere", _join(path, i))
            refs.append(conn_keys[index])
        return tuple(refs)
    if kind is Kind.INT:
        if isinstance(raw, bool) or not isinstance(raw, int):
            if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
                return int(raw)
            raise _fail(f"expected an integer, got {raw!r}", path)
        return raw
    if kind in (Kind.BOOL, Kind.OPT_BOOL):
        if not isinstance(raw, bool):
            raise _fail(f"expected true or false, got {raw!r}", path)
        return raw
    if kind is Kind.DURATION:
        if not isinstance(raw, str):
            raise _fail(f"expected an ISO-8601 duration string, got {raw!r}", path)
        try:
            return parse_duration(raw)
        except DcmExporterError as exc:
            raise _fail(str(exc), path) from None
    if kind is Kind.ENUM:
        assert aspec.enum_type is not None
        if not isinstance(raw, str):
            raise _fail(f"expected a string, got {raw!r}", path)
        try:
            return aspec.enum_type.parse(raw.split("|", 1)[0])  # type: ignore[attr-defined]
        except ValueError as exc:
            raise _fail(str(exc), path) from None
    raise AssertionError(kind)  # pragma: no cover


def _object(obj: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise _fail(f"expected an object, got {type(obj).__name__}", path)
    return obj


def _array(obj: Any, path: str) -> list[Any]:
    if not isinstance(obj, list):
        raise _fail(f"expected an array, got {type(obj).__name__}", path)
    return obj


def _read(
    spec: ObjectSpec,
    obj: Any,
    path: str,
    *,
    skip: frozenset[str] = frozenset(),
    conn_keys: list[str] | None = None,
    classes: tuple[str, ...] = (),
    **children: Any,
) -> Any:
    """Build a model from a JSON object; ``skip``: members the caller handled (passed as ``children``)."""
    obj = _object(obj, path)
    top = {a.ldap: a for a in spec.attributes if a.aux is None}
    aux: dict[str, dict[str, AttributeSpec]] = {}
    for a in spec.attributes:
        if a.aux is not None:
            aux.setdefault(a.aux, {})[a.ldap] = a
    kwargs: dict[str, Any] = {}
    extra: dict[str, tuple[str | bytes, ...]] = {}
    object_classes = [spec.object_class, *(a for a in aux if a in obj), *classes]

    def keep(key: str, raw: Any) -> None:
        extra[f"{JSON_EXTRA_PREFIX}{key}"] = (json.dumps(raw, separators=(",", ":")),)

    for key, raw in obj.items():
        if key in skip:
            continue
        row = top.get(key)
        if row is not None:
            if raw is not None:
                kwargs[row.field] = _value(row, raw, _join(path, key), conn_keys)
        elif key in aux:
            where = _join(path, key)
            for sub_key, sub_raw in _object(raw, where).items():
                sub_row = aux[key].get(sub_key)
                if sub_row is None:
                    keep(f"{key}/{sub_key}", sub_raw)
                elif sub_raw is not None:
                    kwargs[sub_row.field] = _value(sub_row, sub_raw, _join(where, sub_key), conn_keys)
        elif _is_scalar_or_scalars(raw):
            extra[key] = _to_ldap_values(raw)
        else:
            keep(key, raw)
    for a in spec.attributes:
        if a.required and a.default is _NO_DEFAULT and a.field not in kwargs:
            raise _fail(f"missing {a.ldap}", path)
    kwargs.update(children)
    try:
        return spec.model(**kwargs, extra=extra, object_classes=tuple(object_classes))
    except DcmExporterError as exc:
        raise _fail(str(exc), path) from None
    except (TypeError, ValueError) as exc:
        raise _fail(f"invalid {spec.object_class}: {exc}", path) from exc


def _is_scalar_or_scalars(raw: Any) -> bool:
    if isinstance(raw, str | int | float | bool):
        return True
    return isinstance(raw, list) and all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in raw
    )


def _to_ldap_values(raw: Any) -> tuple[str, ...]:
    values = raw if isinstance(raw, list) else [raw]
    out = []
    for v in values:
        if isinstance(v, bool):
            out.append("TRUE" if v else "FALSE")
        else:
            out.append(str(v))
    return tuple(out)


def device_from_json(obj: Any, *, path: str = "") -> Device:
    """Build a :class:`Device` from one dcm4che device JSON object.

    Raises:
        JsonCodecError: a value of the wrong type, a missing required member, a dangling connection
            reference or an invalid model, with its JSON path.
    """
    obj = _object(obj, path)
    conns_raw = _array(obj.get("dicomNetworkConnection", []), _join(path, "dicomNetworkConnection"))
    conns: list[Connection] = [
        _read(CONNECTION_SPEC, c, _join(_join(path, "dicomNetworkConnection"), i))
        for i, c in enumerate(conns_raw)
    ]
    keys = [c.key for c in conns]

    aes = []
    aes_path = _join(path, "dicomNetworkAE")
    for i, ae in enumerate(_array(obj.get("dicomNetworkAE", []), aes_path)):
        ae_path = _join(aes_path, i)
        ae_obj = _object(ae, ae_path)
        tc_path = _join(ae_path, "dicomTransferCapability")
        tcs = tuple(
            _read(TC_SPEC, t, _join(tc_path, j))
            for j, t in enumerate(_array(ae_obj.get("dicomTransferCapability", []), tc_path))
        )
        dcm_ae = _object(ae_obj.get("dcmNetworkAE", {}), _join(ae_path, "dcmNetworkAE"))
        arc_ae = _object(
            dcm_ae.get("dcmArchiveNetworkAE", {}), _join(ae_path, "dcmNetworkAE.dcmArchiveNetworkAE")
        )
        rules_path = _join(ae_path, "dcmNetworkAE.dcmArchiveNetworkAE.dcmExportRule")
        ae_title = ae_obj.get("dicomAETitle") if isinstance(ae_obj.get("dicomAETitle"), str) else None
        rules = tuple(
            _read(RULE_SPEC, r, _join(rules_path, j), ae_title=ae_title)
            for j, r in enumerate(_array(arc_ae.get("dcmExportRule", []), rules_path))
        )
        arc_rest = {k: v for k, v in arc_ae.items() if k != "dcmExportRule"}
        dcm_ae_clean = dict(dcm_ae)
        if arc_rest:
            dcm_ae_clean["dcmArchiveNetworkAE"] = arc_rest
        else:
            dcm_ae_clean.pop("dcmArchiveNetworkAE", None)
        ae_clean = dict(ae_obj)
        if dcm_ae_clean or "dcmNetworkAE" in ae_obj:
            ae_clean["dcmNetworkAE"] = dcm_ae_clean
        else:
            ae_clean.pop("dcmNetworkAE", None)
        aes.append(
            _read(
                AE_SPEC,
                ae_clean,
                ae_path,
                skip=frozenset({"dicomTransferCapability"}),
                conn_keys=keys,
                classes=("dcmArchiveNetworkAE",) if "dcmArchiveNetworkAE" in dcm_ae else (),
                transfer_capabilities=tcs,
                export_rules=rules,
            )
        )

    dcm_path = _join(path, "dcmDevice")
    dcm = _object(obj.get("dcmDevice", {}), dcm_path)
    web_path = _join(dcm_path, "dcmWebApp")
    webapps = tuple(
        _read(WEBAPP_SPEC, w, _join(web_path, i), conn_keys=keys)
        for i, w in enumerate(_array(dcm.get("dcmWebApp", []), web_path))
    )
    arc_path = _join(dcm_path, "dcmArchiveDevice")
    arc = _object(dcm.get("dcmArchiveDevice", {}), arc_path)

    def many(key: str, spec: ObjectSpec) -> tuple[Any, ...]:
        p = _join(arc_path, key)
        return tuple(_read(spec, x, _join(p, i)) for i, x in enumerate(_array(arc.get(key, []), p)))

    children: dict[str, Any] = {
        "connections": tuple(conns),
        "application_entities": tuple(aes),
        "web_applications": webapps,
        "exporters": many("dcmExporter", EXPORTER_SPEC),
        "queues": many("dcmQueue", QUEUE_SPEC),
        "export_rules": many("dcmExportRule", RULE_SPEC),
        "storages": many("dcmStorage", STORAGE_SPEC),
    }
    dcm_rest = {k: v for k, v in dcm.items() if k != "dcmWebApp"}
    arc_rest = {
        k: v for k, v in arc.items() if k not in ("dcmExporter", "dcmQueue", "dcmExportRule", "dcmStorage")
    }
    if arc_rest:
        dcm_rest["dcmArchiveDevice"] = arc_rest
    else:
        dcm_rest.pop("dcmArchiveDevice", None)
    clean = {k: v for k, v in obj.items() if k not in ("dicomNetworkConnection", "dicomNetworkAE")}
    if dcm_rest:
        clean["dcmDevice"] = dcm_rest
    else:
        clean.pop("dcmDevice", None)
    classes = tuple(
        c
        for c, present in (("dcmDevice", "dcmDevice" in obj), ("dcmArchiveDevice", "dcmArchiveDevice" in dcm))
        if present
    )
    device: Device = _read(
        DEVICE_SPEC,
        clean,
        path,
        skip=frozenset({"dcmDevice"}) if not dcm_rest else frozenset(),
        classes=classes,
        **children,
    )
    return device


def configuration_from_json(source: str | bytes | Any, *, base_dn: str = DEFAULT_BASE_DN) -> Configuration:
    """Read one device object, a list of them, or ``{"devices": [...]}`` (text or already parsed JSON).

    Raises:
        JsonCodecError: malformed JSON or any problem in a device, with its JSON path.
    """
    data = source
    if isinstance(source, str | bytes):
        try:
            data = json.loads(source)
        except json.JSONDecodeError as exc:
            raise JsonCodecError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if isinstance(data, Mapping) and "devices" in data and "dicomDeviceName" not in data:
        data = data["devices"]
        prefix = "devices"
    else:
        prefix = ""
    items = data if isinstance(data, list) else [data]
    devices = [
        device_from_json(d, path=f"{prefix}[{i}]" if isinstance(data, list) else prefix)
        for i, d in enumerate(items)
    ]
    try:
        return Configuration(devices=tuple(devices), base_dn=base_dn)
    except DcmExporterError as exc:
        raise JsonCodecError(str(exc)) from None


# --- writing -------------------------------------------------------------------------------------------


def _json_value(aspec: AttributeSpec, value: Any, conn_index: Mapping[str, int] | None) -> Any:
    kind = aspec.kind
    if kind in (Kind.STR, Kind.INT, Kind.BOOL, Kind.OPT_BOOL):
        return value
    if kind is Kind.STRS:
        return list(value)
    if kind is Kind.DURATION:
        return format_duration(value)
    if kind is Kind.SCHEDULES:
        return list(value.to_strings())
    if kind is Kind.PROPERTIES:
        return [f"{k}={v}" for k, v in value.items()]
    if kind is Kind.ENUM:
        return value.value
    if kind is Kind.CONN_REFS:
        assert conn_index is not None
        return [f"{_CONN_POINTER}{conn_index[k]}" for k in value]
    raise AssertionError(kind)  # pragma: no cover


def _write(model: Any, spec: ObjectSpec, conn_index: Mapping[str, int] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    auxes = {a.aux for a in spec.attributes if a.aux}
    for oc in model.object_classes:
        if oc in auxes:
            out[oc] = {}
    for aspec in spec.attributes:
        value = getattr(model, aspec.field)
        if value is None or (not aspec.required and _is_default(aspec, value)):
            continue
        target = out if aspec.aux is None else out.setdefault(aspec.aux, {})
        target[aspec.ldap] = _json_value(aspec, value, conn_index)
    for key, values in model.extra.items():
        if key.startswith(JSON_EXTRA_PREFIX):
            parts = key[len(JSON_EXTRA_PREFIX) :].split("/")
            target = out
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            loaded = json.loads(values[0])
            if isinstance(loaded, dict) and isinstance(target.get(parts[-1]), dict):
                target[parts[-1]].update(loaded)
            else:
                target[parts[-1]] = loaded
        else:
            texts = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]
            typed: list[Any] = [{"TRUE": True, "FALSE": False}.get(t, t) for t in texts]
            out[key] = typed[0] if len(typed) == 1 else typed
    return out


def device_to_json(device: Device) -> dict[str, Any]:
    """One :class:`Device` as a dcm4che device JSON object (defaults omitted)."""
    conn_index = {c.key: i for i, c in enumerate(device.connections)}
    out = _write(device, DEVICE_SPEC)
    if "dcmDevice" in device.object_classes:
        out.setdefault("dcmDevice", {})
    if "dcmArchiveDevice" in device.object_classes:
        out.setdefault("dcmDevice", {}).setdefault("dcmArchiveDevice", {})
    if device.connections:
        out["dicomNetworkConnection"] = [_write(c, CONNECTION_SPEC) for c in device.connections]
    if device.application_entities:
        aes = []
        for ae in device.application_entities:
            obj = _write(ae, AE_SPEC, conn_index)
            if ae.transfer_capabilities:
                obj["dicomTransferCapability"] = [_write(t, TC_SPEC) for t in ae.transfer_capabilities]
            if "dcmArchiveNetworkAE" in ae.object_classes:
                obj.setdefault("dcmNetworkAE", {}).setdefault("dcmArchiveNetworkAE", {})
            if ae.export_rules:
                arc = obj.setdefault("dcmNetworkAE", {}).setdefault("dcmArchiveNetworkAE", {})
                arc["dcmExportRule"] = [_write(r, RULE_SPEC) for r in ae.export_rules]
            aes.append(obj)
        out["dicomNetworkAE"] = aes
    if device.web_applications:
        out.setdefault("dcmDevice", {})["dcmWebApp"] = [
            _write(w, WEBAPP_SPEC, conn_index) for w in device.web_applications
        ]
    groups: list[tuple[str, tuple[Any, ...], ObjectSpec]] = [
        ("dcmExporter", device.exporters, EXPORTER_SPEC),
        ("dcmQueue", device.queues, QUEUE_SPEC),
        ("dcmExportRule", device.export_rules, RULE_SPEC),
        ("dcmStorage", device.storages, STORAGE_SPEC),
    ]
    for key, items, spec in groups:
        if items:
            arc = out.setdefault("dcmDevice", {}).setdefault("dcmArchiveDevice", {})
            arc[key] = [_write(x, spec) for x in items]
    return out


def configuration_to_json(config: Configuration, *, indent: int | None = 2) -> str:
    """The devices of a configuration as a JSON array of dcm4che device objects."""
    return json.dumps([device_to_json(d) for d in config.devices], indent=indent)
