"""Options every command shares, and what they open: the configuration, the task queue, the instance source.

Where the configuration comes from (the same options on every command, with environment fallbacks):

- ``--config FILE`` (``DCM_EXPORTER_CONFIG``): LDIF, or dcm4che device JSON when the name ends in ``.json``;
  ``-`` reads standard input (JSON when it starts with ``{`` or ``[``);
- ``--ldap URL`` (``DCM_EXPORTER_LDAP_URL``) with ``--bind-dn DN`` (``DCM_EXPORTER_LDAP_BIND_DN``), the password
  from ``--password-file FILE`` (``DCM_EXPORTER_LDAP_PASSWORD_FILE``) or ``DCM_EXPORTER_LDAP_PASSWORD``, and
  ``--base-dn DN`` (``DCM_EXPORTER_LDAP_BASE_DN``, default ``dc=dcm4che,dc=org``).

``--device NAME`` (``DCM_EXPORTER_DEVICE``) names the archive device when the configuration has several.
Where the queue is: ``--queue sqlite:PATH`` | ``PATH`` | ``postgresql://...`` (``DCM_EXPORTER_QUEUE``, default
``sqlite:dcm-exporter-queue.sqlite`` in the current folder). Where the instances are: ``--source DIR``
(``DCM_EXPORTER_SOURCE``) with an optional persistent ``--index FILE``.

The options are accepted before the sub-command (``dcm-exporter --config a.ldif exporter list``) and after it
(``dcm-exporter exporter list --config a.ldif``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from dcm_exporter._suggest import did_you_mean
from dcm_exporter.errors import CodecError, ConfigurationError

if TYPE_CHECKING:
    from dcm_exporter.codecs.ldap_mapping.diff import LdapOperation
    from dcm_exporter.models import Configuration
    from dcm_exporter.queue.store import TaskStore
    from dcm_exporter.sources import FileSystemSource

__all__ = [
    "PushPlan",
    "DEFAULT_QUEUE",
    "NotApplied",
    "add_config_options",
    "add_confirm_options",
    "add_format_options",
    "add_list_command",
    "add_output_option",
    "add_show_secrets",
    "config_parser",
    "add_queue_options",
    "add_source_options",
    "approve_plan",
    "config_description",
    "has_configuration",
    "load_configuration",
    "open_source",
    "open_store",
    "option",
    "push_configuration",
    "output_format",
    "save_configuration",
    "shown_queue",
    "unknown_error",
]

DEFAULT_QUEUE = "sqlite:dcm-exporter-queue.sqlite"
DEFAULT_BASE_DN = "dc=dcm4che,dc=org"

_ENV = {
    "config": "DCM_EXPORTER_CONFIG",
    "ldap": "DCM_EXPORTER_LDAP_URL",
    "bind_dn": "DCM_EXPORTER_LDAP_BIND_DN",
    "password_file": "DCM_EXPORTER_LDAP_PASSWORD_FILE",
    "base_dn": "DCM_EXPORTER_LDAP_BASE_DN",
    "ldap_ca_file": "DCM_EXPORTER_LDAP_CA_FILE",
    "ldap_start_tls": "DCM_EXPORTER_LDAP_START_TLS",
    "device": "DCM_EXPORTER_DEVICE",
    "queue": "DCM_EXPORTER_QUEUE",
    "source": "DCM_EXPORTER_SOURCE",
    "index": "DCM_EXPORTER_INDEX",
}


def option(args: argparse.Namespace, name: str, default: str | None = None) -> str | None:
    """The value of a shared option: the command line, else its environment variable, else ``default``."""
    value = getattr(args, name, None)
    if value is not None:
        return str(value)
    env = _ENV.get(name)
    if env and os.environ.get(env):
        return os.environ[env]
    return default


# --- option groups -----------------------------------------------------------------------------------


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """``--config`` / ``--ldap`` / ``--bind-dn`` / ``--password-file`` / ``--ldap-ca-file`` / ``--ldap-start-tls`` /
    ``--base-dn`` / ``--device``."""
    group = parser.add_argument_group("configuration (where it comes from)")
    s = argparse.SUPPRESS
    group.add_argument("--config", metavar="FILE", default=s,
                       help="LDIF or dcm4che device JSON (*.json) file; '-' = stdin [env DCM_EXPORTER_CONFIG]")
    group.add_argument("--ldap", metavar="URL", default=s,
                       help="read/write the configuration in LDAP, e.g. ldap://127.0.0.1:389 "
                       "[env DCM_EXPORTER_LDAP_URL]")
    group.add_argument("--bind-dn", metavar="DN", default=s, help="LDAP bind DN [env DCM_EXPORTER_LDAP_BIND_DN]")
    group.add_argument("--password-file", metavar="FILE", default=s,
                       help="file holding the LDAP password [env DCM_EXPORTER_LDAP_PASSWORD_FILE, "
                       "or the password itself in DCM_EXPORTER_LDAP_PASSWORD]")
    group.add_argument("--ldap-ca-file", metavar="PEM", default=s,
                       help="CA certificates that sign the LDAP server's certificate, for ldaps:// and "
                       "--ldap-start-tls (default: the system's) [env DCM_EXPORTER_LDAP_CA_FILE]")
    group.add_argument("--ldap-start-tls", action="store_const", const="1", default=s,
                       help="upgrade an ldap:// connection with StartTLS before binding "
                       "[env DCM_EXPORTER_LDAP_START_TLS=1]")
    group.add_argument("--base-dn", metavar="DN", default=s,
                       help=f"LDAP base DN (default {DEFAULT_BASE_DN}) [env DCM_EXPORTER_LDAP_BASE_DN]")
    group.add_argument("--device", metavar="NAME", default=s,
                       help="the archive device (when the configuration has several) [env DCM_EXPORTER_DEVICE]")


def add_queue_options(parser: argparse.ArgumentParser) -> None:
    """``--queue sqlite:PATH | postgresql://...``."""
    parser.add_argument(
        "--queue", metavar="URL", default=argparse.SUPPRESS,
        help=f"the export task queue: sqlite:PATH, PATH, postgresql://... or memory: (gone when the command "
        f"ends) (default {DEFAULT_QUEUE}) "
        "[env DCM_EXPORTER_QUEUE]",
    )


def add_source_options(parser: argparse.ArgumentParser) -> None:
    """``--source DIR`` and ``--index FILE``."""
    parser.add_argument("--source", metavar="DIR", default=argparse.SUPPRESS,
                        help="folder of DICOM files the instances are taken from [env DCM_EXPORTER_SOURCE]")
    parser.add_argument("--index", metavar="FILE", default=argparse.SUPPRESS,
                        help="SQLite index of the source folder, kept between runs (default: in memory) "
                        "[env DCM_EXPORTER_INDEX]")


def add_format_options(parser: argparse.ArgumentParser, *, csv: bool = True) -> None:
    """``--format table|json[|csv]`` and ``--json``."""
    choices = ["table", "json", "csv"] if csv else ["table", "json"]
    parser.add_argument("--format", choices=choices, default="table", help="output format (default table)")
    parser.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")


def add_show_secrets(parser: argparse.ArgumentParser) -> None:
    """``--show-secrets``: credentials in clear instead of ``***``."""
    parser.add_argument("--show-secrets", action="store_true",
                        help="show credentials (secret dcmProperty values, URL passwords, PINs) instead of ***")


def config_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str, description: str | None = None
) -> argparse.ArgumentParser:
    """A sub-command ``name`` that reads the configuration (its options added)."""
    p: argparse.ArgumentParser = sub.add_parser(name, help=help, description=description or help)
    add_config_options(p)
    return p


def add_output_option(parser: argparse.ArgumentParser) -> None:
    """``--output FILE``: where a changing sub-command writes the changed configuration."""
    parser.add_argument("--output", metavar="FILE", help="write the changed configuration here")


def add_confirm_options(parser: argparse.ArgumentParser) -> None:
    """``--yes`` / ``--dry-run`` of a sub-command that deletes directory entries (LDAP): see :func:`approve_plan`."""
    parser.add_argument("--dry-run", "-n", action="store_true",
                        help="in LDAP: print the plan (the DNs to delete, modify and add) and change nothing")
    parser.add_argument("--yes", "-y", action="store_true",
                        help="in LDAP: apply a plan that deletes entries without asking (needed without a terminal)")


def add_list_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], help: str, handler: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """The ``list`` sub-command of a configured resource: output format and ``--show-secrets``."""
    p = config_parser(sub, "list", help)
    add_format_options(p)
    add_show_secrets(p)
    p.set_defaults(handler=handler)
    return p


def unknown_error(
    kind: str, name: str, known: Iterable[str], listed_as: str, *, suggest: bool = True
) -> ConfigurationError:
    """``Unknown <kind>: <name>`` with a close match (when ``suggest``) and the names there are."""
    names = sorted(known)
    hint = did_you_mean(name, names) if suggest else ""
    return ConfigurationError(f"Unknown {kind}: {name}{hint} ({listed_as}: {', '.join(names) or 'none'})")


def output_format(args: argparse.Namespace) -> str:
    """The chosen output format (``table`` by default)."""
    return str(getattr(args, "format", None) or "table")


# --- configuration -------------------------------------------------------------------------------------


def has_configuration(args: argparse.Namespace) -> bool:
    """Whether a configuration source was given (option or environment)."""
    return option(args, "config") is not None or option(args, "ldap") is not None


def config_description(args: argparse.Namespace) -> str:
    """Where the configuration comes from, for messages."""
    if option(args, "ldap"):
        return f"LDAP {option(args, 'ldap')} ({option(args, 'base_dn', DEFAULT_BASE_DN)})"
    return str(option(args, "config") or "<no configuration>")


def _password(args: argparse.Namespace) -> str | None:
    path = option(args, "password_file")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except FileNotFoundError:
            raise ConfigurationError(f"password file {path} does not exist (--password-file / "
                                     "DCM_EXPORTER_LDAP_PASSWORD_FILE)") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigurationError(f"cannot read the password file {path}: {reason}") from None
    return os.environ.get("DCM_EXPORTER_LDAP_PASSWORD")


def ldap_store(args: argparse.Namespace) -> Any:
    """An ``LdapConfigStore`` for ``--ldap`` (imported only when asked for)."""
    url = option(args, "ldap")
    if not url:
        raise ConfigurationError("no LDAP server: give --ldap URL (or set DCM_EXPORTER_LDAP_URL)")
    try:
        from dcm_exporter.config.ldap import LdapConfigStore
    except ImportError as exc:  # pragma: no cover - the LDAP store is part of the package
        raise ConfigurationError(f"the LDAP configuration store is not available: {exc}") from exc
    start_tls = (option(args, "ldap_start_tls") or "").strip().lower()
    if start_tls not in ("", "0", "1", "true", "false", "yes", "no"):
        raise ConfigurationError(f"DCM_EXPORTER_LDAP_START_TLS={start_tls!r}: use 1 or 0")
    return LdapConfigStore(
        url,
        bind_dn=option(args, "bind_dn"),
        password=_password(args),
        base_dn=option(args, "base_dn", DEFAULT_BASE_DN) or DEFAULT_BASE_DN,
        start_tls=start_tls in ("1", "true", "yes"),
        ca_file=option(args, "ldap_ca_file"),
    )


def read_configuration_file(path: str) -> Configuration:
    """Read LDIF or dcm4che device JSON (by the ``.json`` suffix; ``-`` = stdin, sniffed)."""
    from dcm_exporter.codecs import device_json, ldif
    from dcm_exporter.config.load import load_configuration as load_source

    if path == "-":
        text = sys.stdin.read()
        if text.lstrip().startswith(("{", "[")):
            try:
                return device_json.loads(text)
            except (CodecError, ConfigurationError) as exc:
                raise ConfigurationError(f"<stdin>: {exc}") from exc
        # the operator's own input: ':<' file URLs may read files (regular ones, size-capped)
        return ldif.load(text if "\n" in text else text + "\n", filename="<stdin>", allow_file_urls=True)
    return load_source(Path(path), allow_file_urls=True)  # the operator's own file


def load_configuration(args: argparse.Namespace) -> Configuration:
    """The configuration named by ``--config`` / ``--ldap`` (or their environment variables).

    Raises:
        ConfigurationError: none given, or it cannot be read.
    """
    if option(args, "ldap"):
        store = ldap_store(args)
        try:
            configuration: Configuration = store.load()
        finally:
            _close(store)
        return configuration
    path = option(args, "config")
    if path is None:
        raise ConfigurationError(
            "no configuration: give --config FILE (LDIF or JSON) or --ldap URL "
            "(or set DCM_EXPORTER_CONFIG / DCM_EXPORTER_LDAP_URL); 'dcm-exporter demo' needs none"
        )
    return read_configuration_file(path)


def write_configuration_file(configuration: Configuration, path: str, *, original: Path | None = None) -> None:
    """Write LDIF, or device JSON when ``path`` ends in ``.json``; ``-`` = stdout (LDIF).

    With ``original`` (the LDIF file ``configuration`` was read from), LDIF is written over its text
    (:func:`dcm_exporter.codecs.ldif.update`): what did not change stays byte for byte, comments included.
    """
    from dcm_exporter.codecs import device_json, ldif

    if path.lower().endswith(".json"):
        text = device_json.dumps(configuration) + "\n"
    elif original is not None:
        try:
            source = original.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read {original} again to write it back: {exc}") from exc
        text = ldif.update(source, configuration, filename=str(original))
    else:
        text = ldif.dumps(configuration)
    if path == "-":
        sys.stdout.write(text)
        return
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fp:
        fp.write(text)
    os.replace(tmp, target)


def _ldif_source(args: argparse.Namespace) -> Path | None:
    """The LDIF file the configuration was read from (``--config``), if it was one."""
    if option(args, "ldap"):
        return None
    path = option(args, "config")
    if path is None or path == "-" or path.lower().endswith(".json"):
        return None
    file = Path(path)
    return file if file.is_file() else None


def save_configuration(
    args: argparse.Namespace,
    configuration: Configuration,
    *,
    output: str | None = None,
    since: Configuration | None = None,
) -> str:
    """Write a changed configuration back where it came from (or to ``output``); returns where.

    LDAP is changed entry by entry: only the differences to ``since`` (the configuration as loaded, so that
    what others changed meanwhile stays), or to the server's tree without it. An LDIF file is edited in
    place: entries that did not change keep their lines, comments and order; files are replaced atomically.
    """
    original = _ldif_source(args)
    if since is not None and getattr(args, "dry_run", False):
        # --dry-run writes nowhere, whatever the target: the plan, then NotApplied
        _confirm_deletions(args, since, configuration, output or config_description(args))
    if output:
        write_configuration_file(configuration, output, original=original)
        return output
    if option(args, "ldap"):
        if since is not None:
            _confirm_deletions(args, since, configuration, config_description(args))
        store = ldap_store(args)
        try:
            store.save(configuration, since=since)
        finally:
            _close(store)
        return config_description(args)
    path = option(args, "config")
    if path is None or path == "-":
        raise ConfigurationError("nowhere to write the configuration: give --output FILE")
    write_configuration_file(configuration, path, original=original)
    return path


@attrs.frozen
class PushPlan:
    """What pushing a configuration to LDAP would do: the DNs of the entries to add, modify and delete."""

    add: tuple[str, ...]
    modify: tuple[str, ...]
    delete: tuple[str, ...]
    fresh: bool
    """The server lacks the configuration tree: it is created and the whole configuration imported."""

    @classmethod
    def of(cls, operations: Sequence[LdapOperation]) -> PushPlan:
        """The plan of these operations on a server that has the configuration tree."""
        from dcm_exporter.codecs.ldap_mapping.diff import AddEntry, DeleteEntry, ModifyEntry

        return cls(
            add=tuple(op.dn for op in operations if isinstance(op, AddEntry)),
            modify=tuple(op.dn for op in operations if isinstance(op, ModifyEntry)),
            delete=tuple(op.dn for op in operations if isinstance(op, DeleteEntry)),
            fresh=False,
        )

    @property
    def destructive(self) -> bool:
        """Whether the push deletes or replaces content the server has."""
        return bool(self.modify or self.delete)

    @property
    def empty(self) -> bool:
        return not (self.add or self.modify or self.delete)


class NotApplied(Exception):
    """A change that was not applied: a ``--dry-run``, or a plan the user did not confirm. The plan and why
    were shown; the command ends with ``exit_code``."""

    def __init__(self, exit_code: int) -> None:
        super().__init__(exit_code)
        self.exit_code = exit_code


def approve_plan(plan: PushPlan, target: str, args: argparse.Namespace) -> bool:
    """Show what a change of an LDAP server does (every DN to delete and modify, the first 20 to add, all with
    ``--dry-run``); on a terminal ask, elsewhere go on only with ``--yes`` (or when it only adds).

    Raises:
        ConfigurationError: the plan modifies or deletes, there is no terminal to ask on and no ``--yes``.
    """
    from dcm_exporter._secrets import mask_url
    from dcm_exporter.cli._output import info

    dry_run = bool(getattr(args, "dry_run", False))
    target = mask_url(target)
    if plan.empty:
        info(f"{target} holds this configuration already: nothing to change")
        return not dry_run
    fresh = " (the server has no configuration tree: it is created)" if plan.fresh else ""
    info(f"plan for {target}{fresh}: {len(plan.add)} entr(y/ies) to add, {len(plan.modify)} to modify, "
         f"{len(plan.delete)} to delete")
    for verb, dns in (("delete", plan.delete), ("modify", plan.modify), ("add", plan.add)):
        limit = len(dns) if dry_run or verb != "add" else 20
        for dn in dns[:limit]:
            info(f"  {verb:<6} {dn}")
        if len(dns) > limit:
            info(f"  ... and {len(dns) - limit} more to {verb} (--dry-run lists them all)")
    if dry_run:
        info("dry run: nothing written")
        return False
    if getattr(args, "yes", False) or not plan.destructive:
        return True
    if sys.stdin.isatty() and sys.stdout.isatty():
        sys.stdout.write(f"Apply these changes to {target}? [y/N] ")
        sys.stdout.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer in ("y", "yes"):
            return True
        info("nothing written")
        return False
    raise ConfigurationError(
        f"not changing {target} without confirmation: {len(plan.modify)} entr(y/ies) would be modified and "
        f"{len(plan.delete)} deleted; check the plan above (or --dry-run) and give --yes"
    )


def _confirm_deletions(args: argparse.Namespace, before: Configuration, after: Configuration, target: str) -> None:
    """A change of LDAP that deletes entries is shown and confirmed first (:func:`approve_plan`); one that only
    adds or modifies is written at once, as the command line asked for exactly that. With ``--dry-run`` (any
    target, a file too) the plan is shown and nothing is written.

    Raises:
        NotApplied: a ``--dry-run``, or the user said no.
    """
    from dcm_exporter.cli._codes import EXIT_FAILED, EXIT_OK
    from dcm_exporter.codecs.ldap_mapping.diff import diff_configurations

    plan = PushPlan.of(diff_configurations(before, after))
    if not plan.delete and not getattr(args, "dry_run", False):
        return
    if not approve_plan(plan, target, args):
        raise NotApplied(EXIT_OK if getattr(args, "dry_run", False) else EXIT_FAILED)


def push_configuration(
    args: argparse.Namespace,
    configuration: Configuration,
    *,
    approve: Callable[[PushPlan], bool] | None = None,
) -> dict[str, int] | None:
    """Make the LDAP server (``--ldap``) hold ``configuration`` below ``cn=DICOM Configuration``; returns the
    number of entries ``added``, ``modified`` and ``deleted``, or ``None`` when ``approve`` said no.

    The plan is worked out first (one search of the server's tree) and handed to ``approve``; what is
    applied then is exactly that plan (a change made on the server in between is not deleted unseen).
    Entries outside the configuration root (the base entry itself) are left to the server; the root and
    its registries are kept. A server without the ``cn=DICOM Configuration`` tree gets it created (as
    dcm4che's ``init-config.ldif``) and the whole LDIF imported.

    Raises:
        LdapError: the server refused an entry (the message names it); what was written before stays.
    """
    from dcm_exporter.codecs import ldif
    from dcm_exporter.codecs.ldap_mapping.diff import AddEntry, DeleteEntry, ModifyEntry, diff_configurations
    from dcm_exporter.dn import normalize_dn
    from dcm_exporter.errors import LdapNoSuchEntryError
    from dcm_exporter.models import LdapEntry

    store = ldap_store(args)
    root = "," + normalize_dn(store.config_root_dn)
    kept = [e for e in configuration.other_entries if ("," + normalize_dn(e.dn)).endswith(root)]
    # the configuration root and its registries stay on the server even when the file lacks them
    # (upstream default-config.ldif does: they come from init-config.ldif)
    have = {normalize_dn(e.dn) for e in kept}
    roots = [
        LdapEntry(dn=dn, attributes={"objectClass": (oc,), "cn": (cn,)})
        for dn, oc, cn in _root_tree(store.config_root_dn)
        if normalize_dn(dn) not in have
    ]
    inside = attrs.evolve(configuration, other_entries=(*roots, *kept))
    try:
        try:
            current: Configuration | None = store.load()
        except LdapNoSuchEntryError:
            current = None
        if current is not None:
            operations = diff_configurations(current, inside)
            plan = PushPlan.of(operations)
        else:
            from dcm_exporter.codecs.ldif import read_ldif

            dns = [dn for dn, _, _ in _root_tree(store.config_root_dn)]
            dns += [r.dn for r in read_ldif(ldif.dumps(configuration))]
            plan = PushPlan(add=tuple(dns), modify=(), delete=(), fresh=True)
        if approve is not None and not approve(plan):
            return None
        if current is not None:
            done = store.save(inside, since=current)
            return {
                "added": sum(isinstance(op, AddEntry) for op in done),
                "modified": sum(isinstance(op, ModifyEntry) for op in done),
                "deleted": sum(isinstance(op, DeleteEntry) for op in done),
            }
        # a server without the configuration tree: create its roots as dcm4che's init-config.ldif
        # does (entries that exist are kept), then import the whole configuration
        created = store.import_ldif(_root_tree_ldif(store.config_root_dn), update_existing=True,
                                    filename="<configuration root tree>")
        _check_import(created, str(option(args, "ldap")))
        report = store.import_ldif(ldif.dumps(configuration), update_existing=True, filename="<configuration>")
        _check_import(report, str(option(args, "ldap")))
        return {"added": len(created.added) + len(report.added),
                "modified": len(created.changed) + len(report.changed), "deleted": 0}
    finally:
        _close(store)


def _root_tree(config_root_dn: str) -> list[tuple[str, str, str]]:
    """(DN, object class, cn) of the configuration root and its registries (dcm4che's ``init-config.ldif``)."""
    entries = [(config_root_dn, "dicomConfigurationRoot", "DICOM Configuration")]
    for cn, object_class in (
        ("Devices", "dicomDevicesRoot"),
        ("Unique AE Titles Registry", "dicomUniqueAETitlesRegistryRoot"),
        ("Unique HL7 Application Names Registry", "hl7UniqueApplicationNamesRegistryRoot"),
        ("Unique Web Application Names Registry", "dcmUniqueWebAppNamesRegistryRoot"),
    ):
        entries.append((f"cn={cn},{config_root_dn}", object_class, cn))
    return entries


def _root_tree_ldif(config_root_dn: str) -> str:
    return "".join(
        f"dn: {dn}\nobjectClass: {oc}\ncn: {cn}\n\n" for dn, oc, cn in _root_tree(config_root_dn)
    )


def _check_import(report: Any, where: str) -> None:
    """Raise when the server refused a record of an import (nothing may be reported as written then)."""
    if report.ok:
        return
    from dcm_exporter.errors import LdapError

    first = report.rejected[0] if report.rejected else None
    written = len(report.added) + len(report.changed)
    raise LdapError(
        f"{where} refused the configuration after {written} entr{'y' if written == 1 else 'ies'} "
        f"were written: {first.dn if first else 'a record'}: {first.error if first else 'rejected'}"
    )


def _close(thing: Any) -> None:
    close = getattr(thing, "close", None)
    if callable(close):
        close()


# --- queue and source -------------------------------------------------------------------------------


def queue_location(args: argparse.Namespace) -> str:
    """The queue URL in use."""
    return option(args, "queue", DEFAULT_QUEUE) or DEFAULT_QUEUE


def shown_queue(args: argparse.Namespace) -> str:
    """The queue URL in use as messages show it: without a password."""
    from dcm_exporter.queue.store_url import masked_url

    return masked_url(queue_location(args))


def open_store(args: argparse.Namespace, *, create: bool = True) -> TaskStore:
    """The task store named by ``--queue`` (:func:`dcm_exporter.queue.open_store`): SQLite (default),
    PostgreSQL or memory. ``create=False`` for commands that only read: they leave no file or schema."""
    from dcm_exporter.queue import open_store as open_url

    return open_url(queue_location(args), create=create)


def open_source(args: argparse.Namespace) -> FileSystemSource:
    """The :class:`FileSystemSource` over ``--source DIR``.

    Raises:
        ConfigurationError: no ``--source`` given.
    """
    root = option(args, "source")
    if root is None:
        raise ConfigurationError("no instance source: give --source DIR (or set DCM_EXPORTER_SOURCE)")
    from dcm_exporter.sources import FileSystemSource

    return FileSystemSource(root, option(args, "index"))
