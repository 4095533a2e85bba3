"""``coercion list|show|add|remove|preview``: attribute coercion rules (``dcmArchiveAttributeCoercion2``).

A rule sits on the archive device or on one of its AEs (``--ae``); on export, the rules of the exporter's AE
and of its device with role SCP and DIMSE C_STORE_RQ whose conditions hold change what is sent
(``deidentify:``, ``merge-attrs:``, ``nullify-pixel-data:``, ``xslt:``...). ``coercion preview EXPORTER FILE``
shows the attribute differences the exporter's destination would receive.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from dcm_exporter.cli._codes import EXIT_FAILED, EXIT_OK
from dcm_exporter.cli._context import (
    add_confirm_options,
    add_format_options,
    add_output_option,
    config_parser,
    load_configuration,
    option,
    output_format,
    save_configuration,
)
from dcm_exporter.cli._output import info, warning, write_mapping, write_rows
from dcm_exporter.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from dcm_exporter.models import AttributeCoercion, Configuration, Device

    Sub = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["coercion_rows", "register"]

COLUMNS = ("name", "device", "ae_title", "priority", "role", "dimse", "uri", "conditions", "on_failure")


def register(sub: Sub) -> None:
    """Add ``coercion``."""
    group = sub.add_parser(
        "coercion",
        help="list, add, remove and preview attribute coercion rules (de-identification on export, ...)",
        description="Attribute coercion rules (dcm4chee-arc dcmArchiveAttributeCoercion2) of the archive "
        "device or one of its AEs. On export (dicom:, stow:), the rules of the exporter's AE and device with "
        "role SCP and DIMSE C_STORE_RQ whose conditions hold change what the destination receives.",
    )
    cmds = group.add_subparsers(dest="coercion_command", metavar="COMMAND", required=True)

    p = config_parser(cmds, "list", "list the coercion rules of every device and AE")
    add_format_options(p)
    p.set_defaults(handler=coercion_list)

    p = config_parser(cmds, "show", "show one coercion rule")
    p.add_argument("name", metavar="NAME", help="the rule's name (cn)")
    p.add_argument("--ae", metavar="AET", help="the AE the rule is on (default: device level, else any)")
    add_format_options(p, csv=False)
    p.set_defaults(handler=coercion_show)

    p = config_parser(
        cmds,
        "add",
        "add a coercion rule",
        "Add a dcmArchiveAttributeCoercion2 rule to the archive device (--device, else the device holding "
        "exporters) or, with --ae, to that AE. Example: coercion add Research --ae DCM4CHEE --uri deidentify: "
        "--condition ReceivingApplicationEntityTitle=RESEARCH",
    )
    p.add_argument("name", metavar="NAME", help="the rule's name (cn)")
    p.add_argument("--uri", required=True, help="dcmURI: deidentify:[options], merge-attrs:, nullify-pixel-data:, "
                   "xslt:<stylesheet>, change-charset:<code>, trim-ISO2022:, retrieve-as-received:")
    p.add_argument("--ae", metavar="AET", help="put the rule on this AE (the exporter's dicomAETitle)")
    p.add_argument("--condition", action="append", metavar="KEY=REGEX", help="dcmProperty condition, repeatable "
                   "(e.g. ReceivingApplicationEntityTitle=RESEARCH, Modality=CT|MR)")
    p.add_argument("--sop-class", action="append", metavar="UID", help="dcmSOPClass, repeatable (default any)")
    p.add_argument("--merge-attribute", action="append", metavar="PATH=FORMAT",
                   help="dcmMergeAttribute for merge-attrs: (Path=format, Path= empties, Path! removes)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="dcmCoercionParam, repeatable")
    p.add_argument("--priority", type=int, default=0, help="dcmRulePriority (higher first, default 0)")
    p.add_argument("--sufficient", action="store_true", help="dcmCoercionSufficient: skip lower-priority rules")
    p.add_argument("--on-failure", choices=("RETHROW", "CONTINUE", "SUFFICIENT"), default="RETHROW",
                   help="dcmCoercionOnFailure (default RETHROW: the instance fails)")
    p.add_argument("--role", choices=("SCP", "SCU"), default="SCP",
                   help="dicomTransferRole of the peer (default SCP: what is sent)")
    p.add_argument("--dimse", default="C_STORE_RQ", help="dcmDIMSE (default C_STORE_RQ)")
    p.add_argument("--description", help="dicomDescription")
    add_output_option(p)
    p.set_defaults(handler=coercion_add)

    p = config_parser(cmds, "remove", "remove a coercion rule")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--ae", metavar="AET", help="the AE the rule is on (default: device level)")
    add_output_option(p)
    add_confirm_options(p)
    p.set_defaults(handler=coercion_remove)

    p = config_parser(
        cmds,
        "preview",
        "show what an exporter's destination would receive of a file",
        "Apply the coercion rules an exporter would apply to FILE and list the attribute differences (nothing "
        "is sent). Exit code 1 when a rule fails, so the instance would not be sent.",
    )
    p.add_argument("exporter_id", metavar="EXPORTER")
    p.add_argument("file", metavar="FILE", help="a DICOM Part 10 file")
    add_format_options(p)
    p.set_defaults(handler=coercion_preview)


def _row(device: Device, rule: AttributeCoercion) -> dict[str, Any]:
    return {
        "name": rule.name,
        "device": device.device_name,
        "ae_title": rule.ae_title or "",
        "priority": rule.priority,
        "role": rule.role.value,
        "dimse": rule.dimse,
        "uri": rule.uri,
        "conditions": list(rule.conditions),
        "on_failure": rule.on_failure.value,
        "sufficient": rule.sufficient,
        "sop_classes": list(rule.sop_classes),
        "merge_attributes": list(rule.merge_attributes),
        "params": [f"{k}={v}" for k, v in rule.params.items()],
        "description": rule.description or "",
    }


def coercion_rows(configuration: Configuration) -> list[dict[str, Any]]:
    """One row per coercion rule, device level first, then each AE's."""
    rows: list[dict[str, Any]] = []
    for device in configuration.devices:
        rows.extend(_row(device, r) for r in device.attribute_coercions)
        for ae in device.application_entities:
            rows.extend(_row(device, r) for r in ae.attribute_coercions)
    return rows


def coercion_list(args: argparse.Namespace) -> int:
    configuration = load_configuration(args)
    write_rows(coercion_rows(configuration), COLUMNS, fmt=output_format(args), status_column=None)
    return EXIT_OK


def _find(configuration: Configuration, name: str, ae_title: str | None) -> tuple[Device, AttributeCoercion]:
    found: list[tuple[Device, AttributeCoercion]] = []
    for device in configuration.devices:
        if ae_title is None:
            found.extend((device, r) for r in device.attribute_coercions if r.name == name)
        for ae in device.application_entities:
            if ae_title is None or ae.ae_title == ae_title:
                found.extend((device, r) for r in ae.attribute_coercions if r.name == name)
    if not found:
        where = f" on AE {ae_title}" if ae_title else ""
        raise ConfigurationError(f"Unknown attribute coercion: {name}{where}")
    device_level = [f for f in found if f[1].ae_title is None]
    if len(found) > 1 and len(device_level) != 1:
        places = ", ".join(f"AE {r.ae_title}" if r.ae_title else f"device {d.device_name}" for d, r in found)
        raise ConfigurationError(f"attribute coercion {name} is on {places}: say which with --ae")
    return device_level[0] if len(found) > 1 else found[0]


def coercion_show(args: argparse.Namespace) -> int:
    configuration = load_configuration(args)
    device, rule = _find(configuration, args.name, args.ae)
    write_mapping(_row(device, rule), fmt=output_format(args))
    return EXIT_OK


def _check(rule: AttributeCoercion) -> None:
    """What can be checked without an object: the conditions, the processor and its options."""
    from dcm_exporter.coercion import default_registry
    from dcm_exporter.conditions import ConditionError, parse_conditions

    try:
        parse_conditions(rule.conditions)
    except ConditionError as exc:
        raise ConfigurationError(f"--condition: {exc}") from None
    processor = default_registry.get(rule.scheme)
    if processor is None:
        raise ConfigurationError(f"--uri {rule.uri!r}: no coercion processor for scheme {rule.scheme!r}")
    if rule.scheme == "deidentify":
        from dcm_exporter.coercion.deidentify import parse_options

        parse_options(rule.scheme_specific_part)
    check = getattr(processor, "check", None)
    if callable(check):
        try:
            check(rule)
        except ConfigurationError as exc:
            if rule.scheme in ("leading-arc", "merge-mwl", "sup-from-dev"):
                warning(f"{exc} (kept for dcm4chee-arc; exports that select it fail here)")
            else:
                raise


def coercion_add(args: argparse.Namespace) -> int:
    from dcm_exporter.cli._wizard import archive_device
    from dcm_exporter.models import AttributeCoercion, FrozenMap
    from dcm_exporter.models._frozen import parse_properties

    configuration = load_configuration(args)
    params: FrozenMap[str, str] = parse_properties(args.param or ())
    rule = AttributeCoercion(
        name=args.name.strip(),
        dimse=args.dimse,
        role=args.role,
        uri=args.uri.strip(),
        description=args.description,
        priority=args.priority,
        sop_classes=args.sop_class or (),
        conditions=args.condition or (),
        merge_attributes=args.merge_attribute or (),
        params=params,
        sufficient=args.sufficient,
        on_failure=args.on_failure,
    )
    _check(rule)
    if args.ae:
        device, ae = configuration.find_ae(args.ae)
        if any(r.name == rule.name for r in ae.attribute_coercions):
            raise ConfigurationError(f"attribute coercion {rule.name} exists already on AE {ae.ae_title}")
        ae_title: str | None = ae.ae_title
    else:
        device = archive_device(configuration, option(args, "device"))
        if any(r.name == rule.name for r in device.attribute_coercions):
            raise ConfigurationError(f"attribute coercion {rule.name} exists already on device {device.device_name}")
        ae_title = None
    changed_device, where_rule = _change_rules(device, ae_title, lambda rules: (*rules, rule))
    changed = configuration.replace_device(changed_device)
    where = save_configuration(args, changed, output=args.output, since=configuration)
    info(f"attribute coercion {rule.name} ({rule.uri}) added to {where_rule} in {where}")
    return EXIT_OK


def _change_rules(
    device: Device,
    ae_title: str | None,
    change: Callable[[tuple[AttributeCoercion, ...]], tuple[AttributeCoercion, ...]],
) -> tuple[Device, str]:
    """``device`` with the coercion rules of the device itself (``ae_title`` ``None``) or of its AE
    ``ae_title`` changed, and where they are in words."""
    import attrs

    if ae_title is None:
        return (attrs.evolve(device, attribute_coercions=change(device.attribute_coercions)),
                f"device {device.device_name}")
    aes = tuple(
        attrs.evolve(ae, attribute_coercions=change(ae.attribute_coercions)) if ae.ae_title == ae_title else ae
        for ae in device.application_entities
    )
    return attrs.evolve(device, application_entities=aes), f"AE {ae_title}"


def coercion_remove(args: argparse.Namespace) -> int:
    configuration = load_configuration(args)
    device, rule = _find(configuration, args.name, args.ae)
    changed_device, where_rule = _change_rules(
        device, rule.ae_title, lambda rules: tuple(r for r in rules if r.name != rule.name)
    )
    changed = configuration.replace_device(changed_device)
    where = save_configuration(args, changed, output=args.output, since=configuration)
    info(f"attribute coercion {rule.name} removed from {where_rule} in {where}")
    return EXIT_OK


def coercion_preview(args: argparse.Namespace) -> int:
    from dcm_exporter.coercion import preview

    configuration = load_configuration(args)
    shown = preview(configuration, args.exporter_id, args.file)
    if output_format(args) == "table":
        print(shown.to_text())
    else:
        rows = [
            {"tag": c.path, "keyword": c.keyword, "action": c.action, "before": c.before, "after": c.after}
            for c in shown.changes
        ]
        if shown.error is not None:
            warning(f"not sent: {shown.error}")
        write_rows(rows, ("tag", "keyword", "action", "before", "after"), fmt=output_format(args),
                   status_column=None)
    return EXIT_FAILED if shown.error is not None else EXIT_OK
