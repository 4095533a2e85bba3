"""``config validate|convert|show``, ``exporter list|show|create|update|delete``, ``remote-ae add|list|verify``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from dcm_exporter._secrets import mask_url
from dcm_exporter.cli._codes import EXIT_FAILED, EXIT_OK
from dcm_exporter.cli._context import (
    add_confirm_options,
    add_format_options,
    add_list_command,
    add_output_option,
    add_show_secrets,
    approve_plan,
    config_description,
    config_parser,
    load_configuration,
    option,
    output_format,
    push_configuration,
    read_configuration_file,
    save_configuration,
    unknown_error,
    write_configuration_file,
)
from dcm_exporter.cli._output import error, info, warning, write_mapping, write_rows
from dcm_exporter.errors import ConfigurationError

if TYPE_CHECKING:
    from dcm_exporter.models import Configuration, ExporterDescriptor

__all__ = ["exporter_row", "register"]

if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def register(sub: Sub) -> None:
    """Add ``config``, ``exporter`` and ``remote-ae``."""
    _register_config(sub)
    _register_exporter(sub)
    _register_remote_ae(sub)


# --- config ---------------------------------------------------------------------------------------------


def _register_config(sub: Sub) -> None:
    group = sub.add_parser("config", help="validate, convert and show dcm4che configuration",
                           description="Validate, convert (LDIF <-> JSON <-> LDAP) and show configuration.")
    cmds = group.add_subparsers(dest="config_command", metavar="COMMAND", required=True)

    p = config_parser(cmds, "validate", "check a configuration: it loads, and its references resolve",
                      "Load the configuration (--config FILE, --ldap URL, or the FILEs given) and check the "
                      "references between exporters, queues, AEs, web applications and storages. Exit status 1 when "
                      "there are errors (or warnings, with --strict).")
    p.add_argument("files", nargs="*", metavar="FILE", help="LDIF or JSON files read as one configuration")
    p.add_argument("--strict", action="store_true", help="warnings count as errors")
    add_format_options(p, csv=False)
    p.set_defaults(handler=config_validate)

    p = config_parser(cmds, "convert", "convert between LDIF, dcm4che device JSON and LDAP",
                      "Read INPUT and write OUTPUT. Each is a file (*.json = dcm4che device JSON, anything else "
                      "LDIF), '-' for stdin/stdout, or an ldap:// / ldaps:// URL (bind with --bind-dn and "
                      "--password-file). Writing to LDAP makes the server's cn=DICOM Configuration tree equal to "
                      "INPUT (a push): entries that differ are added or modified, and entries INPUT lacks are DELETED "
                      "(the configuration root and its registries stay; a server without them gets them created). The "
                      "plan (the DNs to add, modify and delete) is printed first; a plan that modifies or deletes is "
                      "confirmed on a terminal, and needs --yes without one; --dry-run only prints it. Reading from "
                      "LDAP is a pull.")
    p.add_argument("input", metavar="INPUT")
    p.add_argument("output", metavar="OUTPUT")
    p.add_argument("--dry-run", "-n", action="store_true",
                   help="pushing to LDAP: print the plan (every DN to add, modify and delete) and change nothing")
    p.add_argument("--yes", "-y", action="store_true",
                   help="pushing to LDAP: apply a plan that modifies or deletes entries without asking (needed "
                   "without a terminal)")
    p.set_defaults(handler=config_convert)

    p = config_parser(cmds, "show", "show the devices, exporters, queues, AEs, web applications and storages",
                      "Show a configuration. Credentials (bearer-token, basic-auth and other secret dcmProperty "
                      "values, the password of a user:password@ URL, key store PINs, userPassword) are shown as *** "
                      "in every format unless --show-secrets is given: the output is for reading. For a faithful copy "
                      "of the configuration use 'config convert'.")
    p.add_argument("--format", choices=["table", "json", "ldif"], default="table",
                   help="table: a summary (default); json: dcm4che device JSON; ldif: the whole LDIF")
    p.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")
    add_show_secrets(p)
    p.set_defaults(handler=config_show)


def _is_ldap(target: str) -> bool:
    return target.startswith(("ldap://", "ldaps://"))


def config_validate(args: argparse.Namespace) -> int:
    from dcm_exporter.codecs import ldif
    from dcm_exporter.models import Severity

    if args.files:
        paths = list(args.files)
        if all(not p.lower().endswith(".json") for p in paths):
            configuration = ldif.load(paths if len(paths) > 1 else paths[0], allow_file_urls=True)
        elif len(paths) == 1:
            configuration = read_configuration_file(paths[0])
        else:
            raise ConfigurationError("give one JSON file, or any number of LDIF files")
        where = ", ".join(paths)
    else:
        configuration = load_configuration(args)
        where = config_description(args)
    issues = [*configuration.validate(), *_scheme_issues(configuration), *_coercion_issues(configuration)]
    rows = [
        {"severity": i.severity.value, "where": str(i.location or i.dn or ""), "message": i.message}
        for i in issues
    ]
    errors = [i for i in issues if i.severity is Severity.ERROR or args.strict]
    if output_format(args) == "json":
        write_mapping({"source": where, "valid": not errors, "devices": len(configuration.devices),
                       "exporters": len(configuration.exporters), "issues": rows}, fmt="json")
    else:
        if rows:
            write_rows(rows, ("severity", "where", "message"), status_column=None)
        info(f"{where}: {len(configuration.devices)} device(s), {len(configuration.exporters)} exporter(s), "
             f"{len(configuration.queues)} queue(s); "
             + (f"{len(issues)} issue(s)" if issues else "no issues"))
    return EXIT_FAILED if errors else EXIT_OK


#: upstream exporter schemes left out on purpose, with what they do upstream
_UNSUPPORTED_SCHEMES = {
    "xds-i": "XDS-I.b Provide and Register Imaging Document Set; no XDS repository to test against",
}


def _scheme_issues(configuration: Configuration) -> list[Any]:
    """Exporters whose dcmURI scheme has no transport here: their tasks would fail (checked by the CLI,
    which sees the transport registry; the models cannot)."""
    from dcm_exporter._secrets import mask_url
    from dcm_exporter.codecs.ldap_mapping import device_dn, entry_dn_of, normalize_dn
    from dcm_exporter.models import Severity, ValidationIssue
    from dcm_exporter.transports.registry import schemes

    known = set(schemes())
    listing = ", ".join(f"{s}:" for s in sorted(known))
    issues = []
    for device in configuration.devices:
        for e in device.exporters:
            if e.scheme in known:
                continue
            dn = entry_dn_of(e, device_dn(device.device_name, configuration.base_dn))
            if e.scheme in _UNSUPPORTED_SCHEMES:
                message = (f"exporter {e.exporter_id}: {e.scheme}: exporters ({_UNSUPPORTED_SCHEMES[e.scheme]}) "
                           f"are not supported by dcm_exporter; dcm4chee-arc-light runs them, tasks run here "
                           f"fail with 'unknown scheme'")
            else:
                message = (f"exporter {e.exporter_id}: no transport for the scheme of {mask_url(e.uri)} "
                           f"(registered schemes: {listing}); its tasks will fail")
            issues.append(ValidationIssue(
                severity=Severity.ERROR,
                message=message,
                dn=dn,
                location=configuration.locations.get(normalize_dn(dn)),
            ))
    return issues


def _coercion_issues(configuration: Configuration) -> list[Any]:
    """Attribute coercion rules on the export path (role SCP, C_STORE_RQ) that cannot work: unparsable
    conditions, unknown schemes or de-identification options (errors: the instances they match fail), and
    schemes dcm_exporter refuses (warnings: exports that select them fail)."""
    from dcm_exporter.codecs.ldap_mapping import device_dn, entry_dn_of, normalize_dn
    from dcm_exporter.coercion import default_registry
    from dcm_exporter.coercion.deidentify import parse_options
    from dcm_exporter.conditions import ConditionError, parse_conditions
    from dcm_exporter.models import Severity, TransferRole, ValidationIssue

    issues = []
    for device in configuration.devices:
        ddn = device_dn(device.device_name, configuration.base_dn)
        placed = [(r, ddn) for r in device.attribute_coercions]
        for ae in device.application_entities:
            placed.extend((r, entry_dn_of(ae, ddn)) for r in ae.attribute_coercions)
        for rule, parent in placed:
            if rule.role is not TransferRole.SCP or rule.dimse.strip().upper() != "C_STORE_RQ":
                continue  # not applied on export
            found: list[tuple[Severity, str]] = []
            try:
                parse_conditions(rule.conditions)
            except ConditionError as exc:
                found.append((Severity.ERROR, str(exc)))
            try:
                processor = default_registry.get(rule.scheme)
                if processor is None:
                    found.append((Severity.ERROR, f"no processor for the scheme of {rule.uri}: the instances it "
                                  "matches fail"))
                elif rule.scheme == "deidentify":
                    parse_options(rule.scheme_specific_part)
                check = getattr(processor, "check", None)
                if callable(check):
                    check(rule)
            except ValueError as exc:
                found.append((Severity.ERROR, f"{exc}: the instances it matches fail"))
            except ConfigurationError as exc:
                refused = rule.scheme in ("leading-arc", "merge-mwl", "sup-from-dev")
                found.append((Severity.WARNING if refused else Severity.ERROR, str(exc)))
            dn = entry_dn_of(rule, parent)
            for severity, text in found:
                where = f"AE {rule.ae_title}" if rule.ae_title else f"device {device.device_name}"
                issues.append(ValidationIssue(
                    severity=severity,
                    message=f"attribute coercion {rule.name} ({where}): {text}",
                    dn=dn,
                    location=configuration.locations.get(normalize_dn(dn)),
                ))
    return issues


def _read_any(args: argparse.Namespace, source: str) -> Configuration:
    if _is_ldap(source):
        return load_configuration(argparse.Namespace(**{**vars(args), "ldap": source, "config": None}))
    return read_configuration_file(source)


def config_convert(args: argparse.Namespace) -> int:
    configuration = _read_any(args, args.input)
    if _is_ldap(args.output):
        store_args = argparse.Namespace(**{**vars(args), "ldap": args.output, "config": None})
        counts = push_configuration(store_args, configuration,
                                    approve=lambda plan: approve_plan(plan, args.output, args))
        if counts is None:
            return EXIT_OK if args.dry_run else EXIT_FAILED
        info(f"wrote {len(configuration.devices)} device(s) to {args.output}: {counts['added']} entr(y/ies) added, "
             f"{counts['modified']} modified, {counts['deleted']} deleted")
        return EXIT_OK
    write_configuration_file(configuration, args.output)
    if args.output != "-":
        info(f"wrote {len(configuration.devices)} device(s) to {args.output}")
    if args.output.lower().endswith(".json"):
        _warn_left_out_of_json(configuration, args.output)
    return EXIT_OK


def _warn_left_out_of_json(configuration: Configuration, output: str) -> None:
    """Say which LDAP entries device JSON had no place for (they would be lost silently otherwise)."""
    from dcm_exporter.codecs import device_json, ldif
    from dcm_exporter.codecs.ldif import read_ldif
    from dcm_exporter.dn import normalize_dn

    def dns(text: str) -> dict[str, str]:
        return {normalize_dn(r.dn): r.dn for r in read_ldif(text)}

    before = dns(ldif.dumps(configuration))
    after = dns(ldif.dumps(device_json.loads(device_json.dumps(configuration))))
    # the base entry and the configuration roots are structure every server has or a push creates
    base = configuration.base_dn
    structure = {normalize_dn(dn) for dn in (
        base, f"cn=DICOM Configuration,{base}", *(f"cn={cn},cn=DICOM Configuration,{base}" for cn in (
            "Devices", "Unique AE Titles Registry", "Unique HL7 Application Names Registry",
            "Unique Web Application Names Registry")))}
    lost = [dn for key, dn in before.items() if key not in after and key not in structure]
    if lost:
        warning(f"device JSON has no place for {len(lost)} of the {len(before)} LDAP entries "
              f"(e.g. {lost[0]}); {output} lacks them: keep the LDIF as the master copy")


def config_show(args: argparse.Namespace) -> int:
    from dcm_exporter.codecs import device_json, ldif

    configuration = load_configuration(args)
    if not args.show_secrets:
        configuration = configuration.redacted()
    if args.format == "json":
        sys.stdout.write(device_json.dumps(configuration) + "\n")
        return EXIT_OK
    if args.format == "ldif":
        sys.stdout.write(ldif.dumps(configuration))
        return EXIT_OK
    rows = [
        {
            "device": d.device_name,
            "installed": d.installed,
            "ae_titles": [a.ae_title for a in d.application_entities],
            "connections": [f"{c.hostname}:{c.port}" if c.port else c.hostname for c in d.connections],
            "exporters": [e.exporter_id for e in d.exporters],
            "queues": [q.queue_name for q in d.queues],
        }
        for d in configuration.devices
    ]
    write_rows(rows, ("device", "installed", "ae_titles", "connections", "exporters", "queues"),
               status_column=None)
    from dcm_exporter.cli._resource_cmds import STORAGE_COLUMNS, WEBAPP_COLUMNS, storage_rows, webapp_rows

    # the destinations of stow: and storage: exporters, each in its own table when there are any
    # (the configuration is already redacted unless --show-secrets)
    webapps = webapp_rows(configuration, show_secrets=True)
    if webapps:
        sys.stdout.write("\n")
        write_rows(webapps, WEBAPP_COLUMNS, status_column=None)
    storages = storage_rows(configuration, show_secrets=True)
    if storages:
        sys.stdout.write("\n")
        write_rows(storages, STORAGE_COLUMNS, status_column=None)
    return EXIT_OK


# --- exporter --------------------------------------------------------------------------------------------

EXPORTER_COLUMNS = ("exporter_id", "uri", "queue_name", "ae_title", "description", "schedules")


def exporter_row(e: ExporterDescriptor, *, show_secrets: bool = False) -> dict[str, Any]:
    """The fields of an exporter shown by ``exporter list`` / ``show`` (credentials as ``***`` by default)."""
    from dcm_exporter._secrets import mask_properties, mask_url

    properties = e.properties if show_secrets else mask_properties(e.properties)
    return {
        "exporter_id": e.exporter_id,
        "uri": e.uri if show_secrets else mask_url(e.uri),
        "queue_name": e.queue_name,
        "ae_title": e.ae_title,
        "description": e.description,
        "schedules": list(e.schedules.to_strings()),
        "properties": [f"{k}={v}" for k, v in properties.items()],
        "export_as_source_ae": e.export_as_source_ae,
        "stgcmt_scp": e.stgcmt_scp,
        "ian_destinations": list(e.ian_destinations),
        "instance_availability": e.instance_availability.value,
    }


def _add_exporter_fields(p: argparse.ArgumentParser) -> None:
    p.add_argument("--uri", help="dcmURI, e.g. dicom:STORESCP, stow:ORTHANC, storage:fs2, wado:WADO, noop:nothing")
    p.add_argument("--queue-name", help="dcmQueueName: the queue that runs the exporter's tasks")
    p.add_argument("--ae-title", help="dicomAETitle: the local (calling) AE title")
    p.add_argument("--description", help="dicomDescription")
    p.add_argument("--schedule", action="append", metavar="EXPR",
                   help="dcmSchedule, e.g. 'hour=18-6 dayOfWeek=*' (repeat for several)")
    p.add_argument("--property", action="append", metavar="KEY=VALUE", help="dcmProperty (repeat for several)")
    p.add_argument("--output", metavar="FILE", help="write the changed configuration here instead of back "
                   "to --config / --ldap")


def _register_exporter(sub: Sub) -> None:
    group = sub.add_parser("exporter", help="list, show, create, update and delete exporters",
                           description="Exporters (dcm4che dcmExporter) of the configuration.")
    cmds = group.add_subparsers(dest="exporter_command", metavar="COMMAND", required=True)

    add_list_command(cmds, "list the exporters", exporter_list)

    p = config_parser(cmds, "show", "show one exporter",
                      "Show one exporter; credentials (secret dcmProperty values, the password of a user:password@ "
                      "dcmURI) as *** unless --show-secrets is given.")
    p.add_argument("exporter_id", metavar="ID")
    add_format_options(p, csv=False)
    add_show_secrets(p)
    p.set_defaults(handler=exporter_show)

    p = config_parser(cmds, "create", "create an exporter (a wizard on a terminal; flags for scripts)",
                      "Create an exporter. On a terminal it asks for every value not given as a flag, offering the "
                      "registered URI schemes, the known remote AEs, the queues and local AEs of the device, and "
                      "checks each answer as it is typed. With --no-input (or without a terminal) the flags must say "
                      "it all. The configuration is written back to --config FILE / --ldap, or to --output FILE.")
    p.add_argument("--id", dest="exporter_id", help="dcmExporterID")
    _add_exporter_fields(p)
    p.add_argument("--no-input", action="store_true", help="never ask; fail when a required value is missing")
    p.add_argument("--yes", "-y", action="store_true", help="write without asking for confirmation")
    p.set_defaults(handler=exporter_create)

    p = config_parser(cmds, "update", "change fields of an exporter (only those given)")
    p.add_argument("exporter_id", metavar="ID")
    _add_exporter_fields(p)
    p.add_argument("--clear-schedules", action="store_true", help="remove every dcmSchedule first")
    p.add_argument("--remove-property", action="append", metavar="KEY", help="remove a dcmProperty")
    p.set_defaults(handler=exporter_update)

    p = config_parser(cmds, "delete", "delete an exporter (refused while export rules name it, unless --force)")
    p.add_argument("exporter_id", metavar="ID")
    p.add_argument("--force", action="store_true", help="delete it although export rules name it")
    add_output_option(p)
    add_confirm_options(p)
    p.set_defaults(handler=exporter_delete)


def exporter_list(args: argparse.Namespace) -> int:
    configuration = load_configuration(args)
    rows = [exporter_row(e, show_secrets=args.show_secrets) for e in configuration.exporters.values()]
    write_rows(rows, EXPORTER_COLUMNS, fmt=output_format(args), status_column=None)
    return EXIT_OK


def _exporter(configuration: Configuration, exporter_id: str) -> ExporterDescriptor:
    exporter = configuration.exporters.get(exporter_id)
    if exporter is None:
        raise unknown_error("exporter", exporter_id, configuration.exporters, "configured exporters")
    return exporter


def exporter_show(args: argparse.Namespace) -> int:
    configuration = load_configuration(args)
    exporter = _exporter(configuration, args.exporter_id)
    row = exporter_row(exporter, show_secrets=args.show_secrets)
    row["device"] = configuration.exporter_device(exporter.exporter_id).device_name
    write_mapping(row, fmt=output_format(args))
    return EXIT_OK


def exporter_create(args: argparse.Namespace) -> int:
    from dcm_exporter.cli._wizard import create_exporter

    configuration = load_configuration(args)
    interactive = not args.no_input and sys.stdin.isatty()
    result = create_exporter(configuration, args, interactive=interactive)
    if result is None:
        info("nothing written")
        return EXIT_FAILED
    new_configuration, exporter = result
    where = save_configuration(args, new_configuration, output=args.output, since=configuration)
    info(f"exporter {exporter.exporter_id} ({mask_url(exporter.uri)}) written to {where}; queue {exporter.queue_name}, "
         f"calling AE {exporter.ae_title or '(none)'}")
    return EXIT_OK


def exporter_update(args: argparse.Namespace) -> int:
    from dcm_exporter.cli._wizard import exporter_from_answers, properties_from

    configuration = load_configuration(args)
    old = _exporter(configuration, args.exporter_id)
    device = configuration.exporter_device(old.exporter_id)
    schedules = () if args.clear_schedules else old.schedules.to_strings()
    schedules = (*schedules, *(args.schedule or ()))
    properties = dict(old.properties)
    for key in args.remove_property or ():
        if key not in properties:
            raise ConfigurationError(f"exporter {old.exporter_id} has no property {key!r}")
        del properties[key]
    properties.update(properties_from(args.property or ()))
    exporter = exporter_from_answers(
        configuration,
        device,
        base=old,
        exporter_id=old.exporter_id,
        uri=args.uri if args.uri is not None else old.uri,
        queue_name=args.queue_name if args.queue_name is not None else old.queue_name,
        ae_title=args.ae_title if args.ae_title is not None else old.ae_title,
        description=args.description if args.description is not None else old.description,
        schedules=schedules,
        properties=properties,
    )
    where = save_configuration(args, configuration.put_exporter(exporter, device_name=device.device_name),
                               output=args.output, since=configuration)
    info(f"exporter {exporter.exporter_id} updated in {where}")
    return EXIT_OK


def _rules_naming(configuration: Configuration, exporter_id: str) -> list[str]:
    """``rule (device D)`` for each export rule that names the exporter."""
    return [
        f"{rule.name!r} (device {device.device_name})"
        for device in configuration.devices
        for rule in device.all_export_rules()
        if exporter_id in rule.exporter_ids
    ]


def exporter_delete(args: argparse.Namespace) -> int:
    configuration = load_configuration(args)
    _exporter(configuration, args.exporter_id)
    rules = _rules_naming(configuration, args.exporter_id)
    if rules and not args.force:
        raise ConfigurationError(
            f"exporter {args.exporter_id} is named by {len(rules)} export rule(s): {', '.join(rules)}; change or "
            "delete them first, or give --force (the rules then name an exporter that does not exist)"
        )
    where = save_configuration(args, configuration.remove_exporter(args.exporter_id), output=args.output,
                               since=configuration)
    info(f"exporter {args.exporter_id} deleted from {where}")
    if rules:
        warning(f"export rule(s) {', '.join(rules)} still name exporter {args.exporter_id}")
    return EXIT_OK


# --- remote AE --------------------------------------------------------------------------------------------

AE_COLUMNS = ("ae_title", "device", "host", "port", "tls", "installed", "description")


def _register_remote_ae(sub: Sub) -> None:
    group = sub.add_parser("remote-ae", help="add, remove, list and verify (C-ECHO) remote AEs",
                           description="Network AEs of the configuration: destinations of dicom: exporters.")
    cmds = group.add_subparsers(dest="remote_ae_command", metavar="COMMAND", required=True)

    p = config_parser(cmds, "add", "add a remote AE (a device, its connection and its AE, registered)",
                      "Add a remote AE as dcm4che does: a device, its network connection, the network AE referencing "
                      "it, and the AE title in the Unique AE Titles Registry.")
    p.add_argument("ae_title", metavar="AET")
    p.add_argument("--host", required=True, help="dicomHostname")
    p.add_argument("--port", type=int, required=True, help="dicomPort")
    p.add_argument("--device-name", help="device name (default: the AE title in lower case)")
    p.add_argument("--description", help="dicomDescription")
    p.add_argument("--tls-cipher", action="append", metavar="SUITE",
                   help="dicomTLSCipherSuite, e.g. SSL_RSA_WITH_3DES_EDE_CBC_SHA (makes the connection TLS)")
    add_output_option(p)
    p.set_defaults(handler=remote_ae_add)

    p = config_parser(cmds, "remove", "remove a remote AE (and its device when it held nothing else)",
                      "Remove a network AE and its Unique AE Titles Registry entry; its device goes too when it holds "
                      "nothing else. Refused while exporters send to it (dicom:AET), request storage commitment from "
                      "it or notify it, unless --force.")
    p.add_argument("ae_title", metavar="AET")
    p.add_argument("--force", action="store_true", help="remove it although exporters use it")
    add_output_option(p)
    add_confirm_options(p)
    p.set_defaults(handler=remote_ae_remove)

    p = config_parser(cmds, "list", "list the network AEs")
    p.add_argument("--all", action="store_true", help="also AEs that do not accept associations")
    add_format_options(p)
    p.set_defaults(handler=remote_ae_list)

    p = config_parser(cmds, "verify", "C-ECHO a remote AE; exit status 0 when it answers Success")
    p.add_argument("ae_title", metavar="AET")
    p.add_argument("--calling-aet", default=None,
                   help="our AE title (default: the dicomAETitle of an exporter, else the archive device's first "
                   "AE, else DCMEXPORTER)")
    p.add_argument("--ca-file", help="PEM CA certificates for a TLS connection")
    add_format_options(p, csv=False)
    p.set_defaults(handler=remote_ae_verify)


def remote_ae_add(args: argparse.Namespace) -> int:
    from dcm_exporter.models import ApplicationEntity, Connection, Device

    configuration = load_configuration(args)
    aet = args.ae_title
    if not aet or len(aet) > 16 or "\\" in aet:
        raise ConfigurationError(f"AE title must be 1 to 16 characters without a backslash, got {aet!r}")
    try:
        device, _ = configuration.find_ae(aet)
    except LookupError:
        pass
    else:
        raise ConfigurationError(f"AE {aet} exists already (device {device.device_name})")
    if not 0 < args.port < 65536:
        raise ConfigurationError(f"port must be 1..65535, got {args.port}")
    name = args.device_name or aet.lower()
    connection = Connection(name="dicom", hostname=args.host, port=args.port,
                            tls_cipher_suites=tuple(args.tls_cipher or ()))
    device = Device(
        device_name=name,
        description=args.description,
        connections=(connection,),
        application_entities=(
            ApplicationEntity(ae_title=aet, connection_refs=("dicom",), association_acceptor=True,
                              association_initiator=False, description=args.description),
        ),
    )
    where = save_configuration(args, configuration.add_device(device), output=args.output, since=configuration)
    info(f"remote AE {aet} ({args.host}:{args.port}, device {name}) added to {where}")
    return EXIT_OK


def _ae_users(configuration: Configuration, ae_title: str) -> list[str]:
    """How each exporter uses the AE: ``X (destination)``, ``X (storage commitment)``, ``X (IAN)``."""
    uses = []
    for e in configuration.exporters.values():
        if e.scheme == "dicom" and e.destination == ae_title:
            uses.append(f"{e.exporter_id} (destination)")
        if e.stgcmt_scp == ae_title:
            uses.append(f"{e.exporter_id} (storage commitment)")
        if ae_title in e.ian_destinations:
            uses.append(f"{e.exporter_id} (IAN)")
    return uses


def remote_ae_remove(args: argparse.Namespace) -> int:
    import attrs

    from dcm_exporter.dn import ae_title_registry_dn, device_dn, normalize_dn

    configuration = load_configuration(args)
    aet = args.ae_title
    device, _ = configuration.find_ae(aet)  # UnknownAEError, with a did-you-mean
    users = _ae_users(configuration, aet)
    if users and not args.force:
        raise ConfigurationError(f"AE {aet} is used by exporter(s) {', '.join(users)}: change or delete them "
                                 "first, or give --force")
    registered = normalize_dn(ae_title_registry_dn(aet, configuration.base_dn))
    # the AE's own entries below it that the model does not hold go with it
    ae_below = "," + normalize_dn(f"dicomAETitle={aet},{device_dn(device.device_name, configuration.base_dn)}")
    kept = tuple(ae for ae in device.application_entities if ae.ae_title != aet)
    changed = attrs.evolve(
        configuration.replace_device(attrs.evolve(device, application_entities=kept)),
        other_entries=tuple(e for e in configuration.other_entries
                            if normalize_dn(e.dn) != registered and not normalize_dn(e.dn).endswith(ae_below)),
    )
    holds_more = bool(kept or device.web_applications or device.exporters or device.queues
                      or device.export_rules or device.storages)
    below = "," + normalize_dn(device_dn(device.device_name, configuration.base_dn))
    others = [e for e in changed.other_entries if normalize_dn(e.dn).endswith(below)]
    removed_device = not holds_more and not others
    if removed_device:
        changed = changed.remove_device(device.device_name)
    where = save_configuration(args, changed, output=args.output, since=configuration)
    info(f"remote AE {aet} removed from {where}"
         + (f"; device {device.device_name} held nothing else and was removed too" if removed_device else ""))
    if users:
        warning(f"exporter(s) {', '.join(users)} still use AE {aet}")
    return EXIT_OK


def remote_ae_list(args: argparse.Namespace) -> int:
    configuration = load_configuration(args)
    rows = []
    for device in configuration.devices:
        for ae in device.application_entities:
            if not (args.all or ae.association_acceptor):
                continue
            listening = [device.connection(r) for r in ae.connection_refs]
            conn = next((c for c in listening if c.is_listening), None)
            rows.append({
                "ae_title": ae.ae_title,
                "device": device.device_name,
                "host": conn.hostname if conn else None,
                "port": conn.port if conn else None,
                "tls": bool(conn and conn.is_tls),
                "installed": device.is_ae_installed(ae),
                "description": ae.description or device.description,
            })
    write_rows(rows, AE_COLUMNS, fmt=output_format(args), status_column=None)
    return EXIT_OK


def _calling_aet(configuration: Configuration, args: argparse.Namespace) -> str:
    if args.calling_aet:
        return str(args.calling_aet)
    device_name = option(args, "device")
    for exporter in configuration.exporters.values():
        if exporter.ae_title and (device_name is None
                                  or configuration.exporter_device(exporter.exporter_id).device_name == device_name):
            return exporter.ae_title
    from dcm_exporter.cli._wizard import archive_device

    try:  # no exporter yet: the archive device's first AE, as its exporters would call
        device = archive_device(configuration, device_name)
    except (ConfigurationError, LookupError):
        return "DCMEXPORTER"
    return device.application_entities[0].ae_title if device.application_entities else "DCMEXPORTER"


def remote_ae_verify(args: argparse.Namespace) -> int:
    from dcm_exporter.errors import TransportError
    from dcm_exporter.transports.dicom import verify

    configuration = load_configuration(args)
    calling = _calling_aet(configuration, args)
    remote = configuration.remote_ae(args.ae_title)
    try:
        result = verify(configuration, args.ae_title, calling, ca_file=args.ca_file)
    except TransportError as exc:
        if output_format(args) == "json":
            write_mapping({"ae_title": args.ae_title, "host": remote.hostname, "port": remote.port,
                           "calling_ae_title": calling, "ok": False, "error": str(exc)}, fmt="json")
        else:
            error(f"C-ECHO {args.ae_title} at {remote.hostname}:{remote.port} failed: {exc}")
        return EXIT_FAILED
    data = {"ae_title": result.ae_title, "host": result.host, "port": result.port, "calling_ae_title": calling,
            "ok": result.ok, "status": f"0x{result.status:04X}", "milliseconds": round(result.seconds * 1000, 1)}
    if output_format(args) == "json":
        write_mapping(data, fmt="json")
    else:
        info(f"C-ECHO {result.ae_title} at {result.host}:{result.port} (calling {calling}): status "
             f"0x{result.status:04X} in {result.seconds * 1000:.1f} ms" + ("" if result.ok else " — FAILED"))
    return EXIT_OK if result.ok else EXIT_FAILED
