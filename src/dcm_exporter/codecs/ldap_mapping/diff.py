"""The minimal LDAP operations (add, delete, modify with per-attribute replace) between two states."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, TypeAlias

import attrs

from dcm_exporter.codecs.ldap_mapping.assembly import configuration_to_entries
from dcm_exporter.codecs.ldap_mapping.entries import model_to_entries
from dcm_exporter.codecs.ldap_mapping.table import Attributes, Model, Value
from dcm_exporter.dn import dn_depth, normalize_dn
from dcm_exporter.models import Configuration, Device

__all__ = [
    "AddEntry",
    "DeleteEntry",
    "LdapOperation",
    "Modification",
    "ModifyEntry",
    "diff_configurations",
    "diff_entries",
    "diff_models",
]

@attrs.frozen
class Modification:
    """One change of one attribute of an entry: ``add`` / ``delete`` values, or ``replace`` them all.

    ``delete`` with no values removes the attribute.
    """

    operation: Literal["add", "delete", "replace"]
    attribute: str
    values: tuple[Value, ...] = ()


@attrs.frozen
class AddEntry:
    """Add an entry."""

    dn: str
    attributes: Mapping[str, tuple[Value, ...]]


@attrs.frozen
class DeleteEntry:
    """Delete an entry (it has no children left when the operation runs)."""

    dn: str


@attrs.frozen
class ModifyEntry:
    """Modify attributes of an existing entry."""

    dn: str
    modifications: tuple[Modification, ...]


LdapOperation: TypeAlias = AddEntry | DeleteEntry | ModifyEntry


def _grouped(attributes: Attributes) -> dict[str, tuple[str, list[Value]]]:
    out: dict[str, tuple[str, list[Value]]] = {}
    for name, values in attributes.items():
        key = name.lower()
        if key in out:
            out[key][1].extend(values)
        else:
            out[key] = (name, list(values))
    return out


def _same_values(a: Sequence[Value], b: Sequence[Value], attribute: str) -> bool:
    if attribute == "objectclass":
        return sorted(str(v).lower() for v in a) == sorted(str(v).lower() for v in b)
    return sorted(a, key=repr) == sorted(b, key=repr)


def diff_entries(
    before: Iterable[tuple[str, Attributes]], after: Iterable[tuple[str, Attributes]]
) -> list[LdapOperation]:
    """The minimal operations turning the entries ``before`` into the entries ``after``.

    Entries are matched by normalised DN. A changed attribute is replaced as a whole (object classes are
    added and deleted value by value); unchanged attributes are not touched. Deletions come first, deepest
    entries first; then modifications; then additions, parents first.
    """
    old = {normalize_dn(dn): (dn, attrs_) for dn, attrs_ in before}
    new = {normalize_dn(dn): (dn, attrs_) for dn, attrs_ in after}
    deletes = [DeleteEntry(old[n][0]) for n in old if n not in new]
    deletes.sort(key=lambda d: -dn_depth(d.dn))
    adds = [AddEntry(new[n][0], {k: tuple(v) for k, v in new[n][1].items()}) for n in new if n not in old]
    adds.sort(key=lambda a: dn_depth(a.dn))
    modifies: list[LdapOperation] = []
    for n, (dn, attrs_after) in new.items():
        if n not in old:
            continue
        a = _grouped(old[n][1])
        b = _grouped(attrs_after)
        mods: list[Modification] = []
        for key, (name, values) in b.items():
            if key not in a:
                mods.append(Modification("add", name, tuple(values)))
            elif not _same_values(a[key][1], values, key):
                if key == "objectclass":
                    have = {str(v).lower() for v in a[key][1]}
                    want = {str(v).lower() for v in values}
                    added = tuple(v for v in values if str(v).lower() not in have)
                    removed = tuple(v for v in a[key][1] if str(v).lower() not in want)
                    if added:
                        mods.append(Modification("add", name, added))
                    if removed:
                        mods.append(Modification("delete", name, removed))
                else:
                    mods.append(Modification("replace", name, tuple(values)))
        for key, (name, _) in a.items():
            if key not in b:
                mods.append(Modification("delete", name))
        if mods:
            modifies.append(ModifyEntry(dn, tuple(mods)))
    return [*deletes, *modifies, *adds]


def diff_models(
    before: Model | None, after: Model | None, parent: str, *, device: Device | None = None
) -> list[LdapOperation]:
    """The minimal operations turning one model (with its children) into another below ``parent``.

    ``None`` for ``before`` adds ``after``; ``None`` for ``after`` deletes ``before`` (children first).
    ``parent`` is as for :func:`model_to_entries`.
    """
    old = model_to_entries(before, parent, device=device) if before is not None else []
    new = model_to_entries(after, parent, device=device) if after is not None else []
    return diff_entries(old, new)


def diff_configurations(before: Configuration, after: Configuration) -> list[LdapOperation]:
    """The minimal operations turning one whole configuration into another."""
    return diff_entries(configuration_to_entries(before), configuration_to_entries(after))
