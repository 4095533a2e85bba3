"""The ``exporter create`` wizard: the archive UI's "new exporter" dialog in a terminal.

Every answer is checked as it is typed (an invalid one is explained and asked again); every question has a
flag, so the same code runs non-interactively. The checks are plain functions, shared with
``exporter update``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import attrs

from dcm_exporter._suggest import did_you_mean
from dcm_exporter.cli._context import config_description, option
from dcm_exporter.errors import ConfigurationError, DcmExporterError
from dcm_exporter.models._uri import java_uri_problem

if TYPE_CHECKING:
    from dcm_exporter.models import Configuration, Device, ExporterDescriptor

__all__ = [
    "Prompter",
    "archive_device",
    "check_ae_title",
    "check_exporter_id",
    "check_property",
    "check_queue",
    "check_schedule",
    "check_uri",
    "create_exporter",
    "exporter_from_answers",
    "properties_from",
]

T = TypeVar("T")


class WizardAborted(DcmExporterError):
    """The user ended the wizard (end of input)."""


# --- checks (each returns the normalised answer or raises ValueError / ConfigurationError) ----------------


def archive_device(configuration: Configuration, device_name: str | None) -> Device:
    """The device new exporters go to: ``--device``, else the one holding exporters or queues."""
    if device_name:
        return configuration.device(device_name)
    holders = [d for d in configuration.devices if d.exporters or d.queues]
    if len(holders) == 1:
        return holders[0]
    if not holders and len(configuration.devices) == 1:
        return configuration.devices[0]
    names = ", ".join(d.device_name for d in (holders or configuration.devices)) or "none"
    raise ConfigurationError(f"which archive device? give --device NAME (devices: {names})")


def check_exporter_id(configuration: Configuration, text: str) -> str:
    value = text.strip()
    if not value:
        raise ValueError("the exporter ID must not be empty")
    if any(c in value for c in ",=+<>#;\\\""):
        raise ValueError(f"the exporter ID {value!r} contains a character that is special in DNs; use letters, "
                         "digits, '-', '_' or '.'")
    if value in configuration.exporters:
        raise ValueError(f"an exporter with ID {value} exists already")
    return value


def known_schemes() -> list[str]:
    """The registered URI schemes (built-in and plug-ins)."""
    from dcm_exporter.transports.registry import schemes

    return sorted(schemes())


def remote_ae_titles(configuration: Configuration, device: Device | None = None) -> list[str]:
    """AE titles that accept associations on another device (candidates for ``dicom:``)."""
    out: list[str] = []
    for d in configuration.devices:
        if device is not None and d.device_name == device.device_name:
            continue
        for ae in d.application_entities:
            if ae.association_acceptor and any(d.connection(r).is_listening for r in ae.connection_refs):
                out.append(ae.ae_title)
    return out


def check_uri(configuration: Configuration, text: str) -> str:
    value = text.strip()
    scheme, sep, rest = value.partition(":")
    schemes = known_schemes()
    listing = ", ".join(f"{s}:" for s in schemes)
    if not sep or not scheme:
        raise ValueError(f"{value!r} has no scheme: write it as <scheme>:<destination> (schemes: {listing})")
    scheme = scheme.lower()
    problem = java_uri_problem(value)
    if problem is not None:
        hint = f"; e.g. {scheme}:nothing" if problem.startswith("Expected scheme-specific part") else ""
        raise ValueError(f"dcm4chee-arc-light could not read {value!r} (java.net.URI: {problem}){hint}")
    if scheme not in schemes:
        raise ValueError(f"unknown scheme {scheme}: (registered schemes: {listing})")
    if scheme == "dicom":
        if not rest:
            aes = ", ".join(remote_ae_titles(configuration)) or "none configured"
            raise ValueError(f"dicom: needs the destination AE title, e.g. dicom:STORESCP (known AEs: {aes})")
        try:
            configuration.find_ae(rest)
        except LookupError:
            aes = ", ".join(remote_ae_titles(configuration)) or "none configured"
            hint = did_you_mean(rest, remote_ae_titles(configuration))
            raise ValueError(
                f"Unknown AE: {rest}{hint} (known AEs: {aes}; add one with 'dcm-exporter remote-ae add')"
            ) from None
    elif scheme == "stow":
        _check_stow(configuration, value, rest)
    elif scheme == "wado":
        if rest not in configuration.web_applications:
            apps = ", ".join(sorted(configuration.web_applications)) or "none configured"
            hint = did_you_mean(rest, configuration.web_applications)
            raise ValueError(f"Unknown Web Application: {rest}{hint} (web applications: {apps})")
    elif scheme == "storage" and rest not in configuration.storages:
        ids = ", ".join(sorted(configuration.storages)) or "none configured"
        raise ValueError(f"Unknown storage: {rest} (storages: {ids})")
    return f"{scheme}:{rest}"


def _stow_web_applications(configuration: Configuration) -> list[str]:
    return sorted(
        name for name, app in configuration.web_applications.items()
        if "STOW_RS" in {c.upper() for c in getattr(app, "service_classes", ())}
    )


def _check_stow(configuration: Configuration, uri: str, rest: str) -> None:
    """``stow:<WebAppName>`` offering STOW_RS with a usable connection, or ``stow:http(s)://host[:port]/path``
    (checked by the transport's own resolution, so the wizard accepts exactly what an export can use)."""
    from dcm_exporter.models import ExporterDescriptor
    from dcm_exporter.transports.stow import resolve_settings

    if "://" not in rest and rest not in configuration.web_applications:
        apps = ", ".join(_stow_web_applications(configuration)) or "none configured"
        raise ValueError(
            f"Unknown Web Application: {rest}{did_you_mean(rest, configuration.web_applications)} "
            f"(web applications offering STOW_RS: {apps}; "
            "or give the DICOMweb base URL, e.g. stow:http://127.0.0.1:8042/dicom-web)"
        )
    probe = ExporterDescriptor(exporter_id="new", uri=f"stow:{rest}", queue_name="-")
    try:
        resolve_settings(probe, configuration)
    except ConfigurationError as exc:
        raise ValueError(str(exc).removeprefix("exporter new: ")) from None


def default_queue(device: Device) -> str | None:
    """The queue the wizard offers: the one most exporters of the device use, else one named Export...,
    else the first."""
    if not device.queues:
        return None
    used = [e.queue_name for e in device.exporters if device.queue(e.queue_name) is not None]
    if used:
        return max(set(used), key=lambda name: (used.count(name), -used.index(name)))
    names = [q.queue_name for q in device.queues]
    return next((n for n in names if n.lower().startswith("export")), names[0])


def check_queue_name(text: str) -> str:
    """A queue name that may be new: not empty, nothing special in a DN."""
    value = text.strip()
    if not value:
        raise ValueError("the queue name must not be empty")
    if any(c in value for c in ",=+<>#;\\\""):
        raise ValueError(f"the queue name {value!r} contains a character that is special in DNs")
    return value


def check_queue(device: Device, text: str) -> str:
    value = text.strip()
    names = [q.queue_name for q in device.queues]
    if not value:
        raise ValueError("the queue name must not be empty")
    if value not in names:
        raise ValueError(f"queue {value} does not exist on device {device.device_name}{did_you_mean(value, names)} "
                         f"(queues: {', '.join(names) or 'none'})")
    return value


def check_ae_title(device: Device, text: str) -> str:
    value = text.strip()
    titles = [a.ae_title for a in device.application_entities]
    if not value:
        raise ValueError("the local AE title must not be empty (it is the calling AE of the export)")
    if value not in titles:
        raise ValueError(f"{value} is not an AE of device {device.device_name} (AEs: {', '.join(titles) or 'none'})")
    return value


def check_schedule(text: str) -> str:
    from dcm_exporter.schedule import parse_schedule

    return str(parse_schedule(text.strip()))


def check_property(text: str) -> tuple[str, str]:
    key, sep, value = text.strip().partition("=")
    if not sep or not key:
        raise ValueError(f"a property is key=value, got {text.strip()!r}")
    return key, value


def properties_from(values: Iterable[str]) -> dict[str, str]:
    """``key=value`` strings to a dict (a repeated key: the last wins, as upstream)."""
    return dict(check_property(v) for v in values)


def exporter_from_answers(
    configuration: Configuration,
    device: Device,
    *,
    exporter_id: str,
    uri: str,
    queue_name: str,
    ae_title: str | None,
    description: str | None,
    schedules: Iterable[str],
    properties: Mapping[str, str],
    base: ExporterDescriptor | None = None,
) -> ExporterDescriptor:
    """Check every answer and build the exporter (keeping the other fields of ``base``)."""
    from dcm_exporter.models import ExporterDescriptor
    from dcm_exporter.schedule import Schedules

    try:
        fields: dict[str, Any] = {
            "uri": check_uri(configuration, uri),
            "queue_name": check_queue(device, queue_name),
            "ae_title": check_ae_title(device, ae_title) if ae_title else None,
            "description": description or None,
            "schedules": Schedules.parse([check_schedule(s) for s in schedules]),
            "properties": dict(properties),
        }
    except ValueError as exc:
        raise ConfigurationError(f"exporter {exporter_id}: {exc}") from exc
    if base is not None:
        return attrs.evolve(base, **fields)
    return ExporterDescriptor(exporter_id=exporter_id, **fields)


# --- prompting -----------------------------------------------------------------------------------------------


class Prompter:
    """Asks questions on a terminal; an invalid answer is explained and the question asked again."""

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout

    def say(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def _read(self, prompt: str) -> str:
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            self.stdout.write("\n")
            raise WizardAborted("input ended: no exporter created")
        return line.rstrip("\r\n")

    def ask(self, question: str, check: Callable[[str], T], *, default: str | None = None) -> T:
        prompt = f"{question} [{default}]: " if default else f"{question}: "
        while True:
            answer = self._read(prompt)
            if not answer.strip() and default is not None:
                answer = default
            try:
                return check(answer)
            except (ValueError, ConfigurationError) as exc:
                self.say(f"  invalid: {exc}")

    def ask_many(self, question: str, check: Callable[[str], T]) -> list[T]:
        values: list[T] = []
        while True:
            answer = self._read(f"{question}: ")
            if not answer.strip():
                return values
            try:
                values.append(check(answer))
            except (ValueError, ConfigurationError) as exc:
                self.say(f"  invalid: {exc}")

    def confirm(self, question: str, *, default: bool = True) -> bool:
        hint = "Y/n" if default else "y/N"
        while True:
            answer = self._read(f"{question} [{hint}]: ").strip().lower()
            if not answer:
                return default
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            self.say("  please answer y or n")


def create_exporter(
    configuration: Configuration, args: argparse.Namespace, *, interactive: bool, prompter: Prompter | None = None
) -> tuple[Configuration, ExporterDescriptor] | None:
    """Run the wizard (or just the checks, non-interactively); ``None`` when the user declined to write."""
    device = archive_device(configuration, option(args, "device"))
    queues = [q.queue_name for q in device.queues]
    local_aes = [a.ae_title for a in device.application_entities]

    def given(name: str) -> Any:
        return getattr(args, name, None)

    if not interactive:
        # the queue and the calling AE default as the wizard's questions do; the ID and URI have no default
        queue_name = given("queue_name") or default_queue(device)
        missing = [f"--{n.replace('_', '-')}" for n, value in
                   (("id", given("exporter_id")), ("uri", given("uri")), ("queue_name", queue_name)) if not value]
        if missing:
            no_queue = (f"; device {device.device_name} has no queue: add one with 'dcm-exporter queue add NAME'"
                        if queue_name is None else "")
            raise ConfigurationError(
                f"missing {', '.join(missing)} (no terminal to ask on, or --no-input){no_queue}")
        exporter_id = check_exporter_id(configuration, given("exporter_id"))
        exporter = exporter_from_answers(
            configuration, device, exporter_id=exporter_id, uri=given("uri"),
            queue_name=str(queue_name),
            ae_title=given("ae_title") or (local_aes[0] if local_aes else None),  # the wizard's default
            description=given("description"), schedules=given("schedule") or (),
            properties=properties_from(given("property") or ()),
        )
        return configuration.put_exporter(exporter, device_name=device.device_name), exporter

    p = prompter or Prompter()
    p.say(f"New exporter on device {device.device_name} ({config_description(args)})")
    exporter_id = (check_exporter_id(configuration, given("exporter_id")) if given("exporter_id")
                   else p.ask("Exporter ID", lambda t: check_exporter_id(configuration, t)))
    if given("uri"):
        uri = check_uri(configuration, given("uri"))
    else:
        remotes = remote_ae_titles(configuration, device)
        p.say("URI schemes: " + ", ".join(f"{s}:" for s in known_schemes()))
        p.say("Remote AEs (dicom:AET): "
              + (", ".join(remotes) or "none (add one with 'dcm-exporter remote-ae add')"))
        stow = [w.name for w in configuration.web_applications.values() if w.serves("STOW_RS")]
        if stow:
            p.say("Web applications (stow:NAME): " + ", ".join(stow))
        # a default only when there is no choice to make: the first of several AEs would be a guess
        uri = p.ask("URI", lambda t: check_uri(configuration, t),
                    default=f"dicom:{remotes[0]}" if len(remotes) == 1 else None)
    if given("queue_name"):
        queue_name = check_queue(device, given("queue_name"))
    else:
        p.say(f"Queues of {device.device_name}: {', '.join(queues) or 'none'}")
        while True:
            queue_name = p.ask("Queue", check_queue_name, default=default_queue(device))
            if device.queue(queue_name) is not None:
                break
            hint = did_you_mean(queue_name, queues)
            if p.confirm(f"Queue {queue_name} does not exist on device {device.device_name}{hint}: create it?",
                         default=not hint):
                from dcm_exporter.models import QueueDescriptor

                configuration = configuration.put_queue(QueueDescriptor(queue_name=queue_name),
                                                        device_name=device.device_name)
                device = configuration.device(device.device_name)
                break
    if given("ae_title"):
        ae_title: str | None = check_ae_title(device, given("ae_title"))
    else:
        p.say(f"Local AEs of {device.device_name}: {', '.join(local_aes) or 'none'}")
        ae_title = p.ask("AE title (calling AE)", lambda t: check_ae_title(device, t),
                         default=local_aes[0] if local_aes else None)
    description = given("description")
    if description is None:
        description = p.ask("Description (optional)", lambda t: t.strip())
    schedules = [check_schedule(s) for s in given("schedule") or ()]
    if not given("schedule"):
        schedules = p.ask_many("Schedule, e.g. hour=18-6 dayOfWeek=* (empty line: always / done)", check_schedule)
    properties = properties_from(given("property") or ())
    if not given("property"):
        properties = dict(p.ask_many("Property key=value (empty line: done)", check_property))
    exporter = exporter_from_answers(
        configuration, device, exporter_id=exporter_id, uri=uri, queue_name=queue_name, ae_title=ae_title,
        description=description, schedules=schedules, properties=properties,
    )
    from dcm_exporter._secrets import mask_properties, mask_url

    p.say("")  # the summary shows credentials as ***, like every other output of the command
    p.say(f"  dcmExporterID     {exporter.exporter_id}")
    p.say(f"  dcmURI            {mask_url(exporter.uri)}")
    p.say(f"  dcmQueueName      {exporter.queue_name}")
    p.say(f"  dicomAETitle      {exporter.ae_title or ''}")
    if exporter.description:
        p.say(f"  dicomDescription  {exporter.description}")
    for s in exporter.schedules.to_strings():
        p.say(f"  dcmSchedule       {s}")
    for k, v in mask_properties(exporter.properties).items():
        p.say(f"  dcmProperty       {k}={v}")
    target = getattr(args, "output", None) or config_description(args)
    if not getattr(args, "yes", False) and not p.confirm(f"Write exporter {exporter.exporter_id} to {target}?"):
        return None
    return configuration.put_exporter(exporter, device_name=device.device_name), exporter
