"""A whole :class:`~dcm_exporter.models.Configuration` <-> the LDAP entries of its tree.

Reading recognises devices by object class ``dicomDevice`` and their children by their structural classes;
every other entry is kept verbatim in ``other_entries``. Writing puts parents before children, entries read
from files in their original order, and derives the unique-name registry entries of the devices in
``registered_devices``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs

from dcm_exporter.codecs.ldap_mapping.entries import (
    _fail,
    _model_from_entry,
    _named_children,
    entry_dn_of,
    model_to_entries,
    object_classes_of,
)
from dcm_exporter.codecs.ldap_mapping.table import Attributes, Entry, Model
from dcm_exporter.dn import (
    DEFAULT_BASE_DN,
    RDN,
    ae_title_registry_dn,
    devices_dn,
    join_rdns,
    normalize_dn,
    normalized_rdns,
    parent_dn,
    parse_dn,
    parse_plain_rdn,
    rdn_value,
    split_first_rdn,
    web_app_registry_dn,
)
from dcm_exporter.errors import ConfigurationError
from dcm_exporter.models import (
    ApplicationEntity,
    AttributeCoercion,
    Configuration,
    Connection,
    Device,
    ExporterDescriptor,
    ExportRule,
    LdapEntry,
    LegacyAttributeCoercion,
    QueueDescriptor,
    SourceLocation,
    StorageDescriptor,
    TransferCapability,
    WebApplication,
)
from dcm_exporter.models._frozen import FrozenMap

__all__ = [
    "configuration_from_entries",
    "configuration_to_entries",
    "iter_model_entries",
    "registry_entries",
]

_CHILD_CLASSES = (
    "dicomnetworkconnection",
    "dicomnetworkae",
    "dcmexporter",
    "dcmqueue",
    "dcmexportrule",
    "dcmwebapp",
    "dcmstorage",
    "dcmarchiveattributecoercion2",
    "dcmarchiveattributecoercion",
)
_AE_CHILD_CLASSES = (
    "dicomtransfercapability",
    "dcmexportrule",
    "dcmarchiveattributecoercion2",
    "dcmarchiveattributecoercion",
)


@attrs.define
class _Read:
    dn: str
    attributes: Attributes
    location: SourceLocation | None
    norm: str
    parent: str
    classes: set[str]
    index: int
    first_rdn: RDN

    def build(self, model: type[Any], conn_refs: Callable[[str], str] | None = None, **children: Any) -> Any:
        """:func:`model_from_entry` of this entry, reusing its parsed DN."""
        return _model_from_entry(model, self.dn, self.attributes, self.location, conn_refs, children, self.first_rdn)


def _normal_forms(dn: str, seen: dict[str, str]) -> tuple[str, str, RDN]:
    """The normal forms of a DN and of its parent, and its parsed first RDN.

    ``seen`` maps DNs (as written) normalised before to their normal form: when the part after the first
    RDN is one of them (a parent read before its children, the usual order), only the first RDN is parsed.

    Raises:
        ConfigurationError: a malformed DN (the message of :func:`parse_dn`).
    """
    split = split_first_rdn(dn)
    if split is not None:
        parent = seen.get(split[1])
        if parent is not None:
            head = parse_plain_rdn(split[0])
            if head is not None:
                norm = f"{normalized_rdns([head])[0]},{parent}"
                seen[dn] = norm
                return norm, parent, head
    rdns = parse_dn(dn)
    parts = normalized_rdns(rdns)
    norm = ",".join(parts)
    if rdns:
        seen[dn] = norm
    return norm, ",".join(parts[1:]), rdns[0] if rdns else []


def _structural(r: _Read, candidates: Iterable[str]) -> str | None:
    for c in candidates:
        if c in r.classes:
            return c
    return None


def configuration_from_entries(
    entries: Iterable[tuple[str, Attributes] | tuple[str, Attributes, SourceLocation | None]],
    *,
    base_dn: str | None = None,
) -> Configuration:
    """Build a :class:`Configuration` from LDAP entries in dcm4che's layout.

    ``entries`` are ``(dn, attributes)`` or ``(dn, attributes, location)``. Devices are recognised by object
    class ``dicomDevice``; their connections, AEs (with transfer capabilities and export rules), exporters,
    queues, export rules, web applications and storages become models; every other entry is kept verbatim.
    ``base_dn`` defaults to the one the first device lives under.

    Raises:
        ConfigurationError: an entry that cannot be a valid model, with DN (and file and line when known).
    """
    reads: list[_Read] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(entries):
        dn, attributes = item[0], item[1]
        location = item[2] if len(item) > 2 else None
        try:
            norm, parent, first_rdn = _normal_forms(dn, seen)
        except ConfigurationError as exc:
            raise _fail(str(exc), dn, location) from None
        classes = {c.lower() for c in object_classes_of(attributes)}
        reads.append(_Read(dn, attributes, location, norm, parent, classes, i, first_rdn))

    devices = [r for r in reads if "dicomdevice" in r.classes]
    if base_dn is None:
        base_dn = DEFAULT_BASE_DN
        if devices:
            rdns = parse_dn(devices[0].dn)
            root = [[(a.lower(), v.lower()) for a, v in rdn] for rdn in rdns[1:3]]
            if root == [[("cn", "devices")], [("cn", "dicom configuration")]]:
                base_dn = join_rdns(rdns[3:])
    root_norm = normalize_dn(devices_dn(base_dn))
    device_by_norm = {r.norm: r for r in devices}
    for r in devices:
        if r.parent != root_norm:
            raise _fail(
                f"device entry is not below {devices_dn(base_dn)}; pass the right base_dn", r.dn, r.location
            )

    used: set[int] = {r.index for r in devices}
    children: dict[str, dict[str, list[_Read]]] = {
        norm: {c: [] for c in _CHILD_CLASSES} for norm in device_by_norm
    }
    for r in reads:
        if r.parent in device_by_norm:
            kind = _structural(r, _CHILD_CLASSES)
            if kind is not None:
                children[r.parent][kind].append(r)
                used.add(r.index)

    ae_by_norm = {r.norm: r for per in children.values() for r in per["dicomnetworkae"]}
    ae_children: dict[str, dict[str, list[_Read]]] = {n: {c: [] for c in _AE_CHILD_CLASSES} for n in ae_by_norm}
    for r in reads:
        if r.parent in ae_by_norm and r.index not in used:
            kind = _structural(r, _AE_CHILD_CLASSES)
            if kind is not None:
                ae_children[r.parent][kind].append(r)
                used.add(r.index)

    built: list[Device] = []
    locations: dict[str, SourceLocation] = {}
    for r in reads:
        if r.location is not None:
            locations.setdefault(r.norm, r.location)
    for dev in devices:
        per = children[dev.norm]
        conns = [
            c.build(Connection)
            for c in per["dicomnetworkconnection"]
        ]
        conn_keys = {c.norm: m.key for c, m in zip(per["dicomnetworkconnection"], conns, strict=True)}

        def resolver(
            owner: _Read, keys: dict[str, str] = conn_keys, device: _Read = dev
        ) -> Callable[[str], str]:
            def resolve(ref: str) -> str:
                key = keys.get(normalize_dn(ref))
                if key is None:
                    raise _fail(
                        f"dicomNetworkConnectionReference {ref!r} points nowhere: no connection entry "
                        f"with that DN below device {device.dn}",
                        owner.dn,
                        owner.location,
                    )
                return key

            return resolve

        aes = []
        for a in per["dicomnetworkae"]:
            sub = ae_children[a.norm]
            ae_title = rdn_value(a.dn)
            tcs = tuple(t.build(TransferCapability) for t in sub["dicomtransfercapability"])
            rules = tuple(t.build(ExportRule, ae_title=ae_title) for t in sub["dcmexportrule"])
            coercions = tuple(
                t.build(AttributeCoercion, ae_title=ae_title) for t in sub["dcmarchiveattributecoercion2"]
            )
            legacy = tuple(
                t.build(LegacyAttributeCoercion, ae_title=ae_title) for t in sub["dcmarchiveattributecoercion"]
            )
            aes.append(
                a.build(
                    ApplicationEntity,
                    resolver(a),
                    transfer_capabilities=tcs,
                    export_rules=rules,
                    attribute_coercions=coercions,
                    legacy_attribute_coercions=legacy,
                )
            )

        def many(kind: str, model: type[Any], per: dict[str, list[_Read]] = per) -> tuple[Any, ...]:
            return tuple(x.build(model, resolver(x)) for x in per[kind])

        built.append(
            dev.build(
                Device,
                connections=tuple(conns),
                application_entities=tuple(aes),
                exporters=many("dcmexporter", ExporterDescriptor),
                queues=many("dcmqueue", QueueDescriptor),
                export_rules=many("dcmexportrule", ExportRule),
                web_applications=many("dcmwebapp", WebApplication),
                storages=many("dcmstorage", StorageDescriptor),
                attribute_coercions=many("dcmarchiveattributecoercion2", AttributeCoercion),
                legacy_attribute_coercions=many("dcmarchiveattributecoercion", LegacyAttributeCoercion),
            )
        )
    other = tuple(LdapEntry(dn=r.dn, attributes=r.attributes) for r in reads if r.index not in used)
    try:
        return Configuration(
            devices=tuple(built), base_dn=base_dn, other_entries=other, locations=FrozenMap(locations)
        )
    except ConfigurationError as exc:
        first = devices[0] if devices else None
        raise _fail(str(exc), first.dn if first else base_dn, first.location if first else None) from None


def configuration_to_entries(config: Configuration) -> list[Entry]:
    """Every entry of the configuration, parents before children.

    Entries read from a file keep their order there; new entries follow. An entry whose parent would come
    later waits for it, so the result can be loaded with ``ldapadd`` as it is. The devices in
    ``registered_devices`` get their unique-name registry entries (:func:`registry_entries`) unless
    ``other_entries`` holds them already.
    """
    root = devices_dn(config.base_dn)
    produced: list[Entry] = []
    for device in config.devices:
        produced.extend(model_to_entries(device, root))
    for e in config.other_entries:
        produced.append((e.dn, {k: list(v) for k, v in e.attributes.items()}))
    produced.extend(_derived_registry_entries(config))
    big = 1 << 60
    files: dict[str, int] = {}
    for loc in config.locations.values():
        files.setdefault(loc.filename, len(files))
    keyed: list[tuple[tuple[int, int, int], str, str, Entry]] = []
    for seq, entry in enumerate(produced):
        norm = normalize_dn(entry[0])
        found = config.locations.get(norm)
        if found is not None:
            order = (files[found.filename], found.line if found.line is not None else big, seq)
        else:
            order = (big, big, seq)
        try:
            parent = normalize_dn(parent_dn(entry[0]))
        except ConfigurationError:
            parent = ""
        keyed.append((order, norm, parent, entry))
    keyed.sort(key=lambda k: k[0])
    present = {k[1] for k in keyed}
    emitted: set[str] = set()
    waiting: dict[str, list[tuple[tuple[int, int, int], str, str, Entry]]] = {}
    out: list[Entry] = []

    def emit(item: tuple[tuple[int, int, int], str, str, Entry]) -> None:
        stack = [item]
        while stack:
            cur = stack.pop()
            out.append(cur[3])
            emitted.add(cur[1])
            stack.extend(reversed(waiting.pop(cur[1], [])))

    for item in keyed:
        parent = item[2]
        if parent and parent in present and parent not in emitted:
            waiting.setdefault(parent, []).append(item)
        else:
            emit(item)
    for items in waiting.values():  # a cycle cannot happen with DNs; keep anything left, in order
        out.extend(i[3] for i in items)
    return out


def _derived_registry_entries(config: Configuration) -> list[Entry]:
    """The registry entries of the registered devices that ``other_entries`` does not hold already."""
    if not config.registered_devices:
        return []
    kept = {normalize_dn(e.dn) for e in config.other_entries}
    out: list[Entry] = []
    for device in config.devices:
        if device.device_name in config.registered_devices:
            for dn, attributes in registry_entries(device, config.base_dn):
                norm = normalize_dn(dn)
                if norm not in kept:
                    kept.add(norm)
                    out.append((dn, attributes))
    return out


def registry_entries(device: Device, base_dn: str = DEFAULT_BASE_DN) -> list[Entry]:
    """The unique-name registry entries dcm4che adds with a device: one per AE title and web application."""
    out: list[Entry] = []
    for ae in device.application_entities:
        out.append(
            (
                ae_title_registry_dn(ae.ae_title, base_dn),
                {"objectClass": ["dicomUniqueAETitle"], "dicomAETitle": [ae.ae_title]},
            )
        )
    for web in device.web_applications:
        out.append(
            (
                web_app_registry_dn(web.name, base_dn),
                {"objectClass": ["dcmUniqueWebAppName"], "dcmWebAppName": [web.name]},
            )
        )
    return out


def iter_model_entries(config: Configuration) -> Iterator[tuple[Model, str]]:
    """Every modelled object with its DN (useful for messages and LDAP stores)."""
    root = devices_dn(config.base_dn)
    for device in config.devices:
        ddn = entry_dn_of(device, root)
        yield device, ddn
        for group in (device.connections, *_named_children(device)):
            for child in group:
                yield child, entry_dn_of(child, ddn)
        for ae in device.application_entities:
            aedn = entry_dn_of(ae, ddn)
            yield ae, aedn
            subs: tuple[Model, ...] = (
                *ae.transfer_capabilities,
                *ae.export_rules,
                *ae.attribute_coercions,
                *ae.legacy_attribute_coercions,
            )
            for sub in subs:
                yield sub, entry_dn_of(sub, aedn)
