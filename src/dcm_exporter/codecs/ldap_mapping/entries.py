"""One model <-> one LDAP entry ``(dn, {attribute: [values]})``, and a model with its children as entries."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from dcm_exporter.codecs.ldap_mapping.table import (
    _NO_DEFAULT,
    OBJECT_SPECS,
    Attributes,
    AttributeSpec,
    Entry,
    Kind,
    Model,
    ObjectSpec,
    Value,
    spec_for,
)
from dcm_exporter.dn import RDN, child_dn, escape_rdn_value, parse_dn
from dcm_exporter.errors import ConfigurationError, DcmExporterError
from dcm_exporter.models import (
    ApplicationEntity,
    Connection,
    Device,
    ExporterDescriptor,
    SourceLocation,
    TransferCapability,
    format_duration,
    parse_duration,
)
from dcm_exporter.models._frozen import parse_properties
from dcm_exporter.models._uri import java_uri_problem
from dcm_exporter.models.exporter import invalid_uri_message, tolerating_invalid_uris
from dcm_exporter.schedule import Schedules, warn_if_cron

__all__ = [
    "entry_dn_of",
    "model_from_entry",
    "model_to_entries",
    "model_to_entry",
    "object_classes_of",
]

_log = logging.getLogger("dcm_exporter.codecs")

# --- reading one entry -----------------------------------------------------------------------------------


def _where(dn: str, location: SourceLocation | None) -> str:
    return f"{location}: " if location is not None else ""


def _fail(message: str, dn: str, location: SourceLocation | None) -> ConfigurationError:
    return ConfigurationError(f"{_where(dn, location)}{message}", dn=dn)


def _text(value: Value, attr: str, dn: str, location: SourceLocation | None) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise _fail(f"{attr}: value is not UTF-8 text", dn, location) from None
    return value


def _texts(values: Sequence[Value], attr: str, dn: str, location: SourceLocation | None) -> Sequence[str]:
    """Every value as text (``values`` itself when all are ``str`` already)."""
    for v in values:
        if type(v) is not str:
            return [_text(v, attr, dn, location) for v in values]
    return values  # type: ignore[return-value]


def _single(values: Sequence[Value], attr: str, dn: str, location: SourceLocation | None) -> str:
    if len(values) != 1:
        raise _fail(f"{attr} must have exactly one value, found {len(values)}", dn, location)
    return _text(values[0], attr, dn, location)


def _parse_bool(text: str, attr: str, dn: str, location: SourceLocation | None) -> bool:
    upper = text.strip().upper()
    if upper == "TRUE":
        return True
    if upper == "FALSE":
        return False
    raise _fail(f"{attr}: {text!r} is not a boolean (TRUE or FALSE)", dn, location)


def _convert(
    spec: AttributeSpec,
    values: Sequence[Value],
    dn: str,
    location: SourceLocation | None,
    conn_refs: Callable[[str], str] | None,
) -> Any:
    attr = spec.ldap
    kind = spec.kind
    if kind is Kind.STR:
        if len(values) == 1 and type(values[0]) is str:
            return values[0]  # the common case of _single
        return _single(values, attr, dn, location)
    if kind is Kind.STRS:
        return tuple(_texts(values, attr, dn, location))
    if kind is Kind.INT:
        text = _single(values, attr, dn, location)
        try:
            return int(text.strip())
        except ValueError:
            raise _fail(f"{attr}: {text!r} is not an integer", dn, location) from None
    if kind in (Kind.BOOL, Kind.OPT_BOOL):
        return _parse_bool(_single(values, attr, dn, location), attr, dn, location)
    if kind is Kind.DURATION:
        text = _single(values, attr, dn, location)
        try:
            return parse_duration(text)
        except ConfigurationError as exc:
            raise _fail(f"{attr}: {exc}", dn, location) from None
    if kind is Kind.SCHEDULES:
        texts = [_text(v, attr, dn, location) for v in values]
        try:
            return Schedules.parse(texts)
        except (DcmExporterError, ValueError) as exc:
            raise _fail(f"{attr}: {exc}", dn, location) from exc
    if kind is Kind.PROPERTIES:
        texts = [_text(v, attr, dn, location) for v in values]
        for t in texts:
            if "=" not in t:
                raise _fail(f"{attr}: {t!r} has no '=': expected key=value", dn, location)
        return parse_properties(texts)
    if kind is Kind.ENUM:
        assert spec.enum_type is not None
        text = _single(values, attr, dn, location)
        member = _ENUM_TEXTS[spec.enum_type].get(text.strip().lower())
        if member is not None:
            return member  # what enum_type.parse returns, without scanning the members
        try:
            return spec.enum_type.parse(text)  # type: ignore[attr-defined]
        except ValueError as exc:
            raise _fail(f"{attr}: {exc}", dn, location) from None
    if kind is Kind.CONN_REFS:
        texts = [_text(v, attr, dn, location) for v in values]
        if conn_refs is None:
            return tuple(texts)
        return tuple(conn_refs(t) for t in texts)
    raise AssertionError(kind)  # pragma: no cover


def object_classes_of(attributes: Attributes) -> tuple[str, ...]:
    """The ``objectClass`` values of an entry (attribute name matched case-insensitively)."""
    out: list[str] = []
    for name, values in attributes.items():
        if name.lower() == "objectclass":
            out.extend(v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values)
    return tuple(out)


@attrs.frozen
class _Plan:
    """What reading an entry needs of an :class:`ObjectSpec`, computed once per model."""

    spec: ObjectSpec
    rows: tuple[tuple[str, AttributeSpec], ...]  # (lower-cased attribute name, row), in table order
    known: frozenset[str]  # lower-cased names the model consumes, objectClass included
    rdn_attr: str  # lower-cased


def _make_plan(spec: ObjectSpec) -> _Plan:
    rows = tuple((a.ldap.lower(), a) for a in spec.attributes)
    return _Plan(spec, rows, frozenset(low for low, _ in rows) | {"objectclass"}, spec.rdn_attr.lower())


_PLANS: dict[type, _Plan] = {s.model: _make_plan(s) for s in OBJECT_SPECS}
_ENUM_TEXTS: dict[type[enum.Enum], dict[str, enum.Enum]] = {
    a.enum_type: {m.value.lower(): m for m in a.enum_type}
    for s in OBJECT_SPECS
    for a in s.attributes
    if a.enum_type is not None
}


def model_from_entry(
    model: type[Any],
    dn: str,
    attributes: Attributes,
    *,
    location: SourceLocation | None = None,
    conn_refs: Callable[[str], str] | None = None,
    **children: Any,
) -> Any:
    """Build one model from one entry (children are passed in by the caller as keyword arguments).

    ``conn_refs`` maps a ``dicomNetworkConnectionReference`` DN to a connection key; without it the DNs are
    kept as they are (the caller must then resolve them).

    Raises:
        ConfigurationError: a missing required attribute or a value that is not valid, naming the DN and,
            with ``location``, the file and line.
    """
    return _model_from_entry(model, dn, attributes, location, conn_refs, children, None)


def _model_from_entry(
    model: type[Any],
    dn: str,
    attributes: Attributes,
    location: SourceLocation | None,
    conn_refs: Callable[[str], str] | None,
    children: dict[str, Any],
    first_rdn: RDN | None,
) -> Any:
    """:func:`model_from_entry`; ``first_rdn`` is the DN's parsed first RDN when the caller has it already."""
    spec = spec_for(model)
    plan = _PLANS[spec.model]
    known = plan.known
    # one pass over the entry: values by lower-cased name (repeated names merged in order), and the rest
    grouped: dict[str, Sequence[Value]] = {}
    extra: dict[str, tuple[Value, ...]] = {}
    for name, raw in attributes.items():
        low = name.lower()
        if low in known:
            seen = grouped.get(low)
            grouped[low] = raw if seen is None else [*seen, *raw]
        else:
            extra[name] = tuple(raw)
    kwargs: dict[str, Any] = {}
    for low, aspec in plan.rows:
        values = grouped.get(low)
        if not values:
            if aspec.required and aspec.default is _NO_DEFAULT:
                raise _fail(f"{spec.object_class} entry has no {aspec.ldap}", dn, location)
            continue
        kwargs[aspec.field] = _convert(aspec, values, dn, location, conn_refs)
    if spec.rdn_field not in kwargs:
        if first_rdn is None:
            rdns = parse_dn(dn)
            first_rdn = rdns[0] if rdns else []
        if len(first_rdn) == 1 and first_rdn[0][0].lower() == plan.rdn_attr:
            kwargs[spec.rdn_field] = first_rdn[0][1]
    kwargs.update(children)
    classes = grouped.get("objectclass") or ()
    object_classes = tuple(v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in classes)
    try:
        if model is ExporterDescriptor and isinstance(uri := kwargs.get("uri"), str) and java_uri_problem(uri):
            return _tolerated_exporter(kwargs, extra, object_classes, dn, location)
        return model(**kwargs, extra=extra, object_classes=object_classes)
    except ConfigurationError as exc:
        raise _fail(str(exc), dn, location) from None
    except (TypeError, ValueError) as exc:
        raise _fail(f"invalid {spec.object_class} entry: {exc}", dn, location) from exc


def _tolerated_exporter(
    kwargs: dict[str, Any],
    extra: dict[str, tuple[Value, ...]],
    object_classes: tuple[str, ...],
    dn: str,
    location: SourceLocation | None,
) -> ExporterDescriptor:
    # read as found, so that a configuration dcm4chee-arc cannot load can still be inspected and repaired;
    # the writers refuse it (model_to_entry) and Configuration.validate reports it as an error
    with tolerating_invalid_uris():
        exporter = ExporterDescriptor(**kwargs, extra=extra, object_classes=object_classes)
    assert exporter.uri_problem is not None
    message = invalid_uri_message(exporter.exporter_id, exporter.uri, exporter.uri_problem)
    _log.warning("%s%s: %s", _where(dn, location), dn, message, extra={"dn": dn})
    return exporter


def _check_writable(model: Model, dn: str) -> None:
    if isinstance(model, ExporterDescriptor) and (problem := model.uri_problem) is not None:
        raise ConfigurationError(
            f"refusing to write {dn}: {invalid_uri_message(model.exporter_id, model.uri, problem)}"
        )


# --- writing one entry -----------------------------------------------------------------------------------


def _is_default(aspec: AttributeSpec, value: Any) -> bool:
    if aspec.default is _NO_DEFAULT:
        return False
    if value is None:
        return True
    if aspec.kind in (Kind.STRS, Kind.CONN_REFS, Kind.PROPERTIES):
        return len(value) == 0
    if aspec.kind is Kind.SCHEDULES:
        return bool(value.is_always)
    return bool(value == aspec.default)


def _format(aspec: AttributeSpec, value: Any, conn_dn: Callable[[str], str] | None) -> list[Value]:
    kind = aspec.kind
    if kind is Kind.STR:
        return [value]
    if kind is Kind.STRS:
        return list(value)
    if kind is Kind.INT:
        return [str(value)]
    if kind in (Kind.BOOL, Kind.OPT_BOOL):
        return ["TRUE" if value else "FALSE"]
    if kind is Kind.DURATION:
        return [format_duration(value)]
    if kind is Kind.SCHEDULES:
        return list(value.to_strings())
    if kind is Kind.PROPERTIES:
        return [f"{k}={v}" for k, v in value.items()]
    if kind is Kind.ENUM:
        return [value.value]
    if kind is Kind.CONN_REFS:
        return [conn_dn(v) if conn_dn else v for v in value]
    raise AssertionError(kind)  # pragma: no cover


def entry_dn_of(model: Model, parent: str) -> str:
    """The DN of a model's entry below ``parent`` (the device DN, or the AE DN for its children)."""
    spec = spec_for(model)
    if isinstance(model, Connection) and not model.name:
        host = escape_rdn_value(model.hostname)
        if model.port is not None:
            return f"dicomHostname={host}+dicomPort={model.port},{parent}"
        return f"dicomHostname={host},{parent}"
    if isinstance(model, TransferCapability) and not model.name:
        sop = escape_rdn_value(model.sop_class)
        return f"dicomSOPClass={sop}+dicomTransferRole={model.role.value},{parent}"
    return child_dn(spec.rdn_attr, getattr(model, spec.rdn_field), parent)


def model_to_entry(model: Model, parent: str, *, conn_dn: Callable[[str], str] | None = None) -> Entry:
    """One model as one entry ``(dn, {attribute: [values]})`` below ``parent``, children not included.

    ``conn_dn`` maps a connection key to the DN written in ``dicomNetworkConnectionReference``; by default
    ``cn=<key>,<device DN>`` is used, with the device DN taken from ``parent``.
    """
    spec = spec_for(model)
    dn = entry_dn_of(model, parent)
    _check_writable(model, dn)
    if conn_dn is None:
        conn_dn = _default_conn_dn(parent)
    attributes: dict[str, list[Value]] = {}
    needed_aux: list[str] = []
    for aspec in spec.attributes:
        value = getattr(model, aspec.field)
        if not aspec.required and _is_default(aspec, value):
            continue
        if value is None:
            continue
        attributes[aspec.ldap] = _format(aspec, value, conn_dn)
        if aspec.kind is Kind.SCHEDULES:
            warn_if_cron(value, where=dn)  # dcm4chee cannot read cron: windows
        if aspec.aux and aspec.aux not in needed_aux:
            needed_aux.append(aspec.aux)
    modelled = {a.lower() for a in attributes} | {a.ldap.lower() for a in spec.attributes}
    for name, kept in model.extra.items():
        values: Sequence[Value] = kept
        if name.startswith("json:"):
            name, values = _from_json_extra(name, kept)
            if not values:
                continue  # a nested JSON structure has no place in this entry
        if name.lower() not in modelled and name.lower() != "objectclass":
            attributes[name] = list(values)
    classes = list(model.object_classes) or [spec.object_class]
    lower = {c.lower() for c in classes}
    if spec.object_class.lower() not in lower:
        classes.insert(0, spec.object_class)
        lower.add(spec.object_class.lower())
    for aux in needed_aux:
        if aux.lower() not in lower:
            classes.append(aux)
            lower.add(aux.lower())
    return dn, {"objectClass": list(classes), **attributes}


def _from_json_extra(name: str, values: Sequence[Value]) -> tuple[str, list[Value]]:
    """A member kept from device JSON (``json:<path>``): scalars become attribute values, others go."""
    import json

    attr = name.rsplit("/", 1)[-1].removeprefix("json:")
    try:
        raw = json.loads(values[0]) if values else None
    except (ValueError, TypeError):
        return attr, []
    items = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(v, str | int | float | bool) for v in items):
        return attr, []
    return attr, [("TRUE" if v else "FALSE") if isinstance(v, bool) else str(v) for v in items]


def _default_conn_dn(device: str) -> Callable[[str], str]:
    def conn(key: str) -> str:
        return child_dn("cn", key, device)

    return conn


def _device_conn_dn(device: Device, ddn: str) -> Callable[[str], str]:
    by_key = {c.key: entry_dn_of(c, ddn) for c in device.connections}

    def conn(key: str) -> str:
        return by_key.get(key) or child_dn("cn", key, ddn)

    return conn


def _named_children(device: Device) -> tuple[tuple[Model, ...], ...]:
    """The device's children that sit directly below it, apart from connections and AEs, in entry order."""
    return (
        device.exporters,
        device.queues,
        device.export_rules,
        device.web_applications,
        device.storages,
        device.attribute_coercions,
        device.legacy_attribute_coercions,
    )


def model_to_entries(model: Model, parent: str, *, device: Device | None = None) -> list[Entry]:
    """A model and its children as entries, parents first.

    ``parent`` is the devices root DN for a :class:`Device` (``cn=Devices,cn=DICOM Configuration,<base>``),
    the device DN for a device child, and the AE DN for an AE child. ``device`` is needed to write
    connection references of an :class:`ApplicationEntity` or :class:`WebApplication` to unnamed connections.
    """
    if isinstance(model, Device):
        ddn = entry_dn_of(model, parent)
        conn = _device_conn_dn(model, ddn)
        out = [model_to_entry(model, parent, conn_dn=conn)]
        for c in model.connections:
            out.append(model_to_entry(c, ddn, conn_dn=conn))
        for ae in model.application_entities:
            out.extend(model_to_entries(ae, ddn, device=model))
        for group in _named_children(model):
            for child in group:
                out.append(model_to_entry(child, ddn, conn_dn=conn))
        return out
    conn_of: Callable[[str], str] | None = _device_conn_dn(device, parent) if device is not None else None
    if isinstance(model, ApplicationEntity):
        aedn = entry_dn_of(model, parent)
        out = [model_to_entry(model, parent, conn_dn=conn_of)]
        for tc in model.transfer_capabilities:
            out.append(model_to_entry(tc, aedn))
        for rule in model.export_rules:
            out.append(model_to_entry(rule, aedn))
        coercions: tuple[Model, ...] = (*model.attribute_coercions, *model.legacy_attribute_coercions)
        for coercion in coercions:
            out.append(model_to_entry(coercion, aedn))
        return out
    return [model_to_entry(model, parent, conn_dn=conn_of)]
