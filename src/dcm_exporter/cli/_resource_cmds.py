"""``webapp add|list|remove`` and ``storage add|list|remove``: the destinations of ``stow:`` and ``storage:``
exporters.

A web application (dcm4che ``dcmWebApp``) is a service path served on an HTTP connection of a device:
``webapp add ORTHANC --url http://127.0.0.1:8042/dicom-web`` creates, as dcm4che's ``stowrsd`` sample does,
a device ``orthanc`` with one HTTP connection and the web application (service class ``STOW_RS`` unless
``--service-class`` says otherwise), and registers the name in the Unique Web Application Names Registry.
With ``--device-name`` of an existing device the web application is added to it (on an HTTP connection of
the same host, port and TLS, or a new one). A storage (dcm4chee-arc ``dcmStorage``) belongs to the archive
device. Both are written back like every other change (the LDIF file, or LDAP entry by entry).
"""

from __future__ import annotations

import argparse
import re
import urllib.parse
from typing import TYPE_CHECKING, Any

from dcm_exporter._secrets import mask_url
from dcm_exporter.cli._codes import EXIT_OK
from dcm_exporter.cli._context import (
    add_confirm_options,
    add_list_command,
    add_output_option,
    config_parser,
    load_configuration,
    option,
    output_format,
    save_configuration,
    unknown_error,
)
from dcm_exporter.cli._output import info, warning, write_rows
from dcm_exporter.errors import ConfigurationError

if TYPE_CHECKING:
    from dcm_exporter.models import Configuration, Connection, Device, StorageDescriptor, WebApplication

    Sub = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["register", "storage_row", "webapp_row"]

#: dcmWebServiceClass values: those the dcm4che schema enumerates and those upstream default-config uses.
SERVICE_CLASSES = (
    "WADO_URI", "WADO_RS", "STOW_RS", "QIDO_RS", "QIDO_COUNT", "UPS_RS", "UPS_MATCHING", "MWL_RS", "MPPS_RS",
    "DCM4CHEE_ARC", "DCM4CHEE_ARC_AET", "DCM4CHEE_ARC_AET_DIFF", "PAM", "MOVE", "MOVE_MATCHING", "ELASTICSEARCH",
    "XDS_RS", "AGFA_BLOB",
)
#: Cipher suites of a new HTTPS connection (they only mark it as TLS here: Python's ssl negotiates).
HTTPS_CIPHER_SUITES = ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")

WEBAPP_COLUMNS = ("name", "device", "url", "service_classes", "properties", "installed", "exporters")
STORAGE_COLUMNS = ("storage_id", "device", "uri", "path_format", "properties", "exporters")

_DN_SPECIAL = ",=+<>#;\\\""


def register(sub: Sub) -> None:
    """Add ``webapp`` and ``storage``."""
    _register_webapp(sub)
    _register_storage(sub)


def _check_name(kind: str, text: str) -> str:
    value = text.strip()
    if not value:
        raise ConfigurationError(f"the {kind} must not be empty")
    if any(c in value for c in _DN_SPECIAL):
        raise ConfigurationError(f"the {kind} {value!r} contains a character that is special in DNs; use letters, "
                                 "digits, '-', '_' or '.'")
    return value


def _properties(values: list[str] | None) -> dict[str, str]:
    from dcm_exporter.cli._wizard import properties_from

    try:
        return properties_from(values or ())
    except ValueError as exc:
        raise ConfigurationError(f"--property: {exc}") from exc


def _users(configuration: Configuration, scheme: str, name: str) -> list[str]:
    """Ids of the exporters whose dcmURI is ``<scheme>:<name>``."""
    return [e.exporter_id for e in configuration.exporters.values() if e.uri == f"{scheme}:{name}"]


# --- webapp ------------------------------------------------------------------------------------------------


def _register_webapp(sub: Sub) -> None:
    group = sub.add_parser("webapp", help="add, list and remove web applications (destinations of stow:NAME)",
                           description="Web applications (dcm4che dcmWebApp) of the configuration: a service path "
                           "on an HTTP connection of a device, e.g. the DICOMweb endpoint a stow:NAME exporter "
                           "sends to.")
    cmds = group.add_subparsers(dest="webapp_command", metavar="COMMAND", required=True)

    p = config_parser(cmds, "add", "add a web application (a device with an HTTP connection, or on an existing device)",
                      "Add a web application as dcm4che does: by default a new device (named after the web "
                      "application, in lower case) with one HTTP connection and the web application on it, its name "
                      "registered in the Unique Web Application Names Registry. Give the endpoint as --url, or as "
                      "--host, --port and --path. Credentials go in properties (--property bearer-token=... or "
                      "basic-auth=user:password); they are shown as *** in every listing.")
    p.add_argument("name", metavar="NAME", help="dcmWebAppName, e.g. ORTHANC (an exporter then uses stow:NAME)")
    p.add_argument("--url", help="base URL, e.g. http://127.0.0.1:8042/dicom-web (sets host, port, path and TLS)")
    p.add_argument("--host", help="dicomHostname of the HTTP connection")
    p.add_argument("--port", type=int, help="dicomPort (default 80, 443 with --tls)")
    p.add_argument("--path", help="dcmWebServicePath, e.g. /dicom-web")
    p.add_argument("--tls", action="store_true", help="HTTPS (with --host/--port/--path)")
    p.add_argument("--service-class", action="append", metavar="CLASS",
                   help="dcmWebServiceClass, repeat for several (default STOW_RS): "
                   + ", ".join(SERVICE_CLASSES))
    p.add_argument("--property", action="append", metavar="KEY=VALUE",
                   help="dcmProperty, repeat for several, e.g. bearer-token=..., basic-auth=user:pw, chunked=false")
    p.add_argument("--device-name", help="the device serving it (default: NAME in lower case, created; an "
                   "existing device gets the web application added)")
    p.add_argument("--ae-title", help="dicomAETitle")
    p.add_argument("--description", help="dicomDescription")
    add_output_option(p)
    p.set_defaults(handler=webapp_add)

    add_list_command(cmds, "list the web applications (with their base URL and the exporters using them)", webapp_list)

    p = config_parser(cmds, "remove", "remove a web application (and its device when it held nothing else)",
                      "Remove a web application and its registry entry. A device left holding nothing else (no AE, "
                      "web application, exporter, queue, storage or other entry) is removed too. Refused while an "
                      "exporter sends to it (stow:NAME): change or delete the exporter first.")
    p.add_argument("name", metavar="NAME")
    add_output_option(p)
    add_confirm_options(p)
    p.set_defaults(handler=webapp_remove)


def _endpoint(args: argparse.Namespace) -> tuple[str, int, str, bool]:
    """(host, port, path, tls) from ``--url`` or ``--host/--port/--path/--tls``."""
    if args.url:
        if args.host or args.port is not None or args.path or args.tls:
            raise ConfigurationError("give --url, or --host/--port/--path/--tls, not both")
        try:
            parts = urllib.parse.urlsplit(args.url.strip())
            port = parts.port
        except ValueError as exc:
            raise ConfigurationError(f"--url {args.url!r}: {exc}") from exc
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"--url {args.url!r}: must be http:// or https:// with a host name")
        if parts.username or parts.password:
            raise ConfigurationError("--url must not hold a user or password: give them as --property "
                                     "basic-auth=user:password (shown as *** in listings)")
        if parts.query or parts.fragment:
            raise ConfigurationError(f"--url {args.url!r}: a web application's base URL has no query or fragment")
        tls = parts.scheme.lower() == "https"
        return parts.hostname, port or (443 if tls else 80), parts.path or "/", tls
    if not args.host or not args.path:
        raise ConfigurationError("give the endpoint: --url URL, or --host HOST --path PATH [--port PORT] [--tls]")
    port = args.port if args.port is not None else (443 if args.tls else 80)
    path = args.path if args.path.startswith("/") else "/" + args.path
    return args.host.strip(), port, path, bool(args.tls)


def _service_classes(values: list[str] | None) -> tuple[str, ...]:
    classes: list[str] = []
    for value in values or ["STOW_RS"]:
        for item in value.split(","):
            name = item.strip().upper()
            if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
                raise ConfigurationError(f"--service-class {item.strip()!r}: not a dcmWebServiceClass (known: "
                                         + ", ".join(SERVICE_CLASSES) + ")")
            if name not in SERVICE_CLASSES:
                warning(f"--service-class {name} is not one dcm4che knows ({', '.join(SERVICE_CLASSES)})")
            if name not in classes:
                classes.append(name)
    return tuple(classes)


def _http_connection(device: Device, host: str, port: int, tls: bool) -> tuple[Connection, bool]:
    """An HTTP connection of ``device`` to host:port with this TLS, and whether it is new."""
    from dcm_exporter.models import Connection

    for c in device.connections:
        if c.protocol.upper() == "HTTP" and c.hostname == host and c.port == port and c.is_tls == tls and c.name:
            return c, False
    names = {c.name for c in device.connections}
    base = "https" if tls else "http"
    name = base if base not in names else next(f"{base}-{i}" for i in range(2, 1000) if f"{base}-{i}" not in names)
    return Connection(name=name, hostname=host, port=port, protocol="HTTP",
                      tls_cipher_suites=HTTPS_CIPHER_SUITES if tls else ()), True


def _with_registry(configuration: Configuration, device: Device) -> Configuration:
    """The device's names go into the unique-name registries when written (as ``add_device`` does)."""
    import attrs

    return attrs.evolve(configuration, registered_devices=configuration.registered_devices | {device.device_name})


def webapp_add(args: argparse.Namespace) -> int:
    import attrs

    from dcm_exporter.models import Device, WebApplication

    configuration = load_configuration(args)
    name = _check_name("web application name", args.name)
    existing = configuration.web_applications.get(name)
    if existing is not None:
        holder = next(d.device_name for d in configuration.devices if d.web_application(name) is not None)
        raise ConfigurationError(f"web application {name} exists already (device {holder})")
    host, port, path, tls = _endpoint(args)
    if not host:
        raise ConfigurationError("the host name must not be empty")
    if not 0 < port < 65536:
        raise ConfigurationError(f"port must be 1..65535, got {port}")
    classes = _service_classes(args.service_class)
    properties = _properties(args.property)
    device_name = _check_name("device name", args.device_name) if args.device_name else name.lower()

    def web(connection: Connection) -> WebApplication:
        return WebApplication(name=name, service_path=path, service_classes=classes,
                              connection_refs=(connection.name or "",), ae_title=args.ae_title or None,
                              description=args.description or None, properties=properties)

    if configuration.has_device(device_name):
        device = configuration.device(device_name)
        connection, new = _http_connection(device, host, port, tls)
        device = attrs.evolve(device, connections=(*device.connections, connection) if new else device.connections,
                              web_applications=(*device.web_applications, web(connection)))
        changed = _with_registry(configuration.replace_device(device), device)
        where_text = f"device {device_name}" + (f", new connection {connection.name}" if new else "")
    else:
        connection, _ = _http_connection(Device(device_name=device_name), host, port, tls)
        device = Device(device_name=device_name, description=args.description or None, connections=(connection,),
                        web_applications=(web(connection),))
        changed = configuration.add_device(device)
        where_text = f"new device {device_name}"
    url = changed.web_application(name).base_url
    where = save_configuration(args, changed, output=args.output, since=configuration)
    info(f"web application {name} ({url}, {', '.join(classes)}; {where_text}) added to {where}")
    if "STOW_RS" in classes:
        info(f"an exporter sends to it with --uri stow:{name}")
    return EXIT_OK


def webapp_row(configuration: Configuration, device: Device, web: WebApplication, *,
               show_secrets: bool = False) -> dict[str, Any]:
    """The fields of a web application shown by ``webapp list`` and ``config show`` (credentials masked)."""
    from dcm_exporter._secrets import mask_properties

    try:
        url: str | None = configuration.web_application(web.name, require_installed=False).base_url
    except ConfigurationError:
        url = None  # no usable connection: validate says so
    properties = web.properties if show_secrets else mask_properties(web.properties)
    return {
        "name": web.name,
        "device": device.device_name,
        "url": url,
        "service_classes": list(web.service_classes),
        "properties": [f"{k}={v}" for k, v in properties.items()],
        "installed": device.installed and web.installed is not False,
        "ae_title": web.ae_title,
        "description": web.description,
        "exporters": _users(configuration, "stow", web.name),
    }


def webapp_rows(configuration: Configuration, *, show_secrets: bool = False) -> list[dict[str, Any]]:
    """One row per web application of every device."""
    return [webapp_row(configuration, d, w, show_secrets=show_secrets)
            for d in configuration.devices for w in d.web_applications]


def webapp_list(args: argparse.Namespace) -> int:
    configuration = load_configuration(args)
    columns = WEBAPP_COLUMNS if output_format(args) == "table" else (*WEBAPP_COLUMNS, "ae_title", "description")
    write_rows(webapp_rows(configuration, show_secrets=args.show_secrets), columns, fmt=output_format(args),
               status_column=None)
    return EXIT_OK


def _device_is_empty(configuration: Configuration, device: Device) -> bool:
    """Whether a device holds nothing but connections (no AE, web app, exporter, ..., nor unmodelled child)."""
    from dcm_exporter.dn import device_dn, normalize_dn

    if (device.application_entities or device.web_applications or device.exporters or device.queues
            or device.export_rules or device.storages):
        return False
    below = "," + normalize_dn(device_dn(device.device_name, configuration.base_dn))
    return not any(normalize_dn(e.dn).endswith(below) for e in configuration.other_entries)


def webapp_remove(args: argparse.Namespace) -> int:
    import attrs

    from dcm_exporter.dn import normalize_dn, web_app_registry_dn

    configuration = load_configuration(args)
    name = args.name
    device = next((d for d in configuration.devices if d.web_application(name) is not None), None)
    if device is None:
        raise unknown_error("Web Application", name, configuration.web_applications, "web applications")
    users = _users(configuration, "stow", name)
    if users:
        raise ConfigurationError(f"web application {name} is the destination of exporter(s) {', '.join(users)} "
                                 "(stow:" + name + "): change or delete them first")
    web = device.web_application(name)
    assert web is not None
    registered = {normalize_dn(web_app_registry_dn(web.name, configuration.base_dn))}
    kept = tuple(w for w in device.web_applications if w.name != name)
    device = attrs.evolve(device, web_applications=kept)
    changed = attrs.evolve(
        configuration.replace_device(device),
        other_entries=tuple(e for e in configuration.other_entries if normalize_dn(e.dn) not in registered),
    )
    removed_device = _device_is_empty(changed, device)
    if removed_device:
        changed = changed.remove_device(device.device_name)
    where = save_configuration(args, changed, output=args.output, since=configuration)
    info(f"web application {name} removed from {where}"
         + (f"; device {device.device_name} held nothing else and was removed too" if removed_device else ""))
    return EXIT_OK


# --- storage -----------------------------------------------------------------------------------------------


def _register_storage(sub: Sub) -> None:
    group = sub.add_parser("storage", help="add, list and remove storages (destinations of storage:ID)",
                           description="Storages (dcm4chee-arc dcmStorage) of the archive device: a folder "
                           "(dcmURI) and the path of each object in it (dcmStoragePathFormat). A storage:ID "
                           "exporter copies the instances into one.")
    cmds = group.add_subparsers(dest="storage_command", metavar="COMMAND", required=True)

    p = config_parser(cmds, "add", "add a storage to the archive device",
                      "Add a storage to the archive device (--device, else the device holding exporters or queues). "
                      "The storage: transport writes to file: URLs (and absolute paths); ${name} placeholders are "
                      "filled from the environment when exporting.")
    p.add_argument("storage_id", metavar="ID", help="dcmStorageID, e.g. fs2 (an exporter then uses storage:ID)")
    p.add_argument("--uri", required=True, help="dcmURI, e.g. file:///srv/dicom/fs2/ or "
                   "${jboss.server.data.url}/fs2/")
    p.add_argument("--path-format", metavar="FORMAT",
                   help="dcmStoragePathFormat (default dcm4chee-arc's "
                   "{now,date,yyyy/MM/dd}/{0020000D,hash}/{0020000E,hash}/{00080018,hash})")
    p.add_argument("--property", action="append", metavar="KEY=VALUE", help="dcmProperty, repeat for several")
    add_output_option(p)
    p.set_defaults(handler=storage_add)

    add_list_command(cmds, "list the storages (with their path format and the exporters using them)", storage_list)

    p = config_parser(cmds, "remove", "remove a storage",
                      "Remove a storage. Refused while an exporter copies into it (storage:ID): change or delete the "
                      "exporter first. The files in it are not touched.")
    p.add_argument("storage_id", metavar="ID")
    add_output_option(p)
    add_confirm_options(p)
    p.set_defaults(handler=storage_remove)


def _check_storage_uri(uri: str) -> str:
    value = uri.strip()
    if not value:
        raise ConfigurationError("--uri must not be empty")
    scheme = urllib.parse.urlsplit(value).scheme.lower() if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", value) else ""
    if value.startswith("${") or scheme == "file" or value.startswith("/"):
        return value
    if not scheme:
        raise ConfigurationError(f"--uri {value!r} is not a URL: give e.g. file:///srv/dicom/fs2/")
    warning(f"--uri {value!r}: the storage: transport writes only to file: URLs; exports to this storage fail here "
            "(dcm4chee-arc may still use it)")
    return value


def storage_add(args: argparse.Namespace) -> int:
    import attrs

    from dcm_exporter.cli._wizard import archive_device
    from dcm_exporter.models import StorageDescriptor

    configuration = load_configuration(args)
    storage_id = _check_name("storage ID", args.storage_id)
    if storage_id in configuration.storages:
        holder = next(d.device_name for d in configuration.devices if d.storage(storage_id) is not None)
        raise ConfigurationError(f"storage {storage_id} exists already (device {holder})")
    uri = _check_storage_uri(args.uri)
    path_format = args.path_format.strip() if args.path_format else None
    if path_format is not None:
        from dcm_exporter.attribute_format import AttributesFormat

        try:
            AttributesFormat(path_format)
        except ConfigurationError as exc:
            raise ConfigurationError(f"--path-format: {exc}") from exc
    device = archive_device(configuration, option(args, "device"))
    storage = StorageDescriptor(storage_id=storage_id, uri=uri, storage_path_format=path_format or None,
                                properties=_properties(args.property))
    changed = configuration.replace_device(attrs.evolve(device, storages=(*device.storages, storage)))
    where = save_configuration(args, changed, output=args.output, since=configuration)
    info(f"storage {storage_id} ({mask_url(uri)}) added to device {device.device_name} in {where}; an exporter "
         f"copies into it with --uri storage:{storage_id}")
    return EXIT_OK


def storage_row(configuration: Configuration, device: Device, storage: StorageDescriptor, *,
                show_secrets: bool = False) -> dict[str, Any]:
    """The fields of a storage shown by ``storage list`` and ``config show`` (credentials masked)."""
    from dcm_exporter._secrets import mask_properties

    properties = storage.properties if show_secrets else mask_properties(storage.properties)
    return {
        "storage_id": storage.storage_id,
        "device": device.device_name,
        "uri": storage.uri if show_secrets else mask_url(storage.uri),
        "path_format": storage.effective_path_format,
        "properties": [f"{k}={v}" for k, v in properties.items()],
        "exporters": _users(configuration, "storage", storage.storage_id),
    }


def storage_rows(configuration: Configuration, *, show_secrets: bool = False) -> list[dict[str, Any]]:
    """One row per storage of every device."""
    return [storage_row(configuration, d, s, show_secrets=show_secrets)
            for d in configuration.devices for s in d.storages]


def storage_list(args: argparse.Namespace) -> int:
    configuration = load_configuration(args)
    write_rows(storage_rows(configuration, show_secrets=args.show_secrets), STORAGE_COLUMNS,
               fmt=output_format(args), status_column=None)
    return EXIT_OK


def storage_remove(args: argparse.Namespace) -> int:
    import attrs

    configuration = load_configuration(args)
    storage_id = args.storage_id
    device = next((d for d in configuration.devices if d.storage(storage_id) is not None), None)
    if device is None:
        raise unknown_error("storage", storage_id, configuration.storages, "storages", suggest=False)
    users = _users(configuration, "storage", storage_id)
    if users:
        raise ConfigurationError(f"storage {storage_id} is the destination of exporter(s) {', '.join(users)} "
                                 f"(storage:{storage_id}): change or delete them first")
    changed = configuration.replace_device(
        attrs.evolve(device, storages=tuple(s for s in device.storages if s.storage_id != storage_id))
    )
    where = save_configuration(args, changed, output=args.output, since=configuration)
    info(f"storage {storage_id} removed from device {device.device_name} in {where} (its files are untouched)")
    return EXIT_OK
