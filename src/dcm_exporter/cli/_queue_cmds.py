"""``export``, ``queue ...``, ``run``, ``schedule check|next`` and ``storescp``."""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dcm_exporter._suggest import did_you_mean
from dcm_exporter.cli._codes import EXIT_FAILED, EXIT_OK
from dcm_exporter.cli._context import (
    add_config_options,
    add_confirm_options,
    add_format_options,
    add_output_option,
    add_queue_options,
    add_source_options,
    has_configuration,
    load_configuration,
    open_source,
    open_store,
    option,
    output_format,
    shown_queue,
    unknown_error,
)
from dcm_exporter.cli._live import add_live_options, load_timed, make_reloader, sighup_reloads, start_metrics_server
from dcm_exporter.cli._output import ProgressBar, error, info, warning, write_mapping, write_rows
from dcm_exporter.errors import ConfigurationError, TransportError

if TYPE_CHECKING:
    from dcm_exporter.export import Outcome
    from dcm_exporter.models import Configuration
    from dcm_exporter.queue import ExportTask, TaskFilter, TaskManager

__all__ = ["parse_time", "register", "task_row"]

if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]

TASK_COLUMNS = ("task_id", "exporter_id", "entity", "status", "failures", "scheduled_time", "batch_id", "outcome")
ALL_TASK_FIELDS = (
    "task_id", "created_time", "updated_time", "device_name", "queue_name", "exporter_id", "local_ae_title",
    "study_uid", "series_uid", "sop_instance_uid", "scheduled_time", "status", "processing_start_time",
    "processing_end_time", "number_of_failures", "batch_id", "error_message", "outcome_message",
    "number_of_instances", "modalities", "requester",
)


def parse_time(text: str) -> datetime:
    """ISO 8601 (a naive time is local time), ``now``, or ``now+90s`` / ``now-2h`` / ``+10m`` / ``+1d``."""
    from dcm_exporter.schedule import local_zone

    value = text.strip()
    now = datetime.now(local_zone())
    if value == "now":
        return now
    relative = value.removeprefix("now")
    if relative[:1] in "+-" and relative[-1:] in "smhd" and relative[1:-1].isdigit():
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[relative[-1]]
        delta = timedelta(**{unit: int(relative[1:-1])})
        return now + delta if relative[0] == "+" else now - delta
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"not a time: {text!r} (use ISO 8601 like 2025-01-31T18:00, or now, now+2h, -1d)") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=local_zone())


def _time(text: str) -> datetime:
    """``parse_time`` as an argparse type: a bad value is reported with its reason, not as 'invalid parse_time'."""
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


def _uid(text: str) -> str:
    """A DICOM UID (PS3.5 9.1: digits and dots, at most 64 characters), as an argparse type.

    Leading zeros, which PS3.5 forbids, are let through: archives hold such UIDs and must export them.
    """
    value = text.strip()
    if len(value) > 64 or not _UID.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"not a DICOM UID: {text!r} (digits separated by dots, at most 64 characters)"
        )
    return value


def task_row(task: ExportTask) -> dict[str, Any]:
    """Every field of a task plus ``entity``, ``failures`` and ``outcome`` (the short column names)."""
    row: dict[str, Any] = {name: getattr(task, name) for name in ALL_TASK_FIELDS}
    row["entity"] = task.entity
    row["failures"] = task.number_of_failures
    row["outcome"] = task.summary
    row["scheduled_time"] = task.scheduled_time.astimezone().replace(microsecond=0)
    return row


def _write_tasks(tasks: Iterable[ExportTask], args: argparse.Namespace) -> None:
    tasks = list(tasks)
    fmt = output_format(args)
    columns = TASK_COLUMNS if fmt == "table" else ALL_TASK_FIELDS
    rows = [task_row(t) for t in tasks]
    if fmt != "table":
        for row, task in zip(rows, tasks, strict=False):
            row["scheduled_time"] = task.scheduled_time
    write_rows(rows, columns, fmt=fmt)


def _manager(args: argparse.Namespace, *, need_configuration: bool = False, read_only: bool = False) -> TaskManager:
    from dcm_exporter.models import Configuration
    from dcm_exporter.queue import TaskManager

    configuration = (load_configuration(args) if need_configuration or has_configuration(args)
                     else Configuration())
    device = option(args, "device")
    if not configuration.devices and device is None:
        device = "dcm-exporter"  # the queue alone: listing and changing tasks needs no device
    return TaskManager(open_store(args, create=not read_only), configuration, device_name=device)


# --- export ----------------------------------------------------------------------------------------------


def register(sub: Sub) -> None:
    """Add ``export``, ``queue``, ``run``, ``schedule`` and ``storescp``."""
    p = sub.add_parser(
        "export", help="export studies, series or instances (queued, or --now)",
        description="Queue an export of a study / series / instance (or of every study in the --source folder "
        "with --all-studies), or perform it right away with --now and print the outcome. Exit status 1 when "
        "an export done --now did not complete.",
    )
    add_config_options(p)
    add_queue_options(p)
    add_source_options(p)
    p.add_argument("exporter_id", metavar="EXPORTER", help="the dcmExporterID")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--study", action="append", metavar="UID", type=_uid,
                      help="Study Instance UID (repeat for several)")
    what.add_argument("--all-studies", action="store_true", help="every study found in the --source folder")
    p.add_argument("--series", metavar="UID", type=_uid, help="only this series (with one --study)")
    p.add_argument("--instance", metavar="UID", type=_uid, help="only this instance (with --series)")
    p.add_argument("--now", action="store_true", help="export right away instead of queueing")
    p.add_argument("--batch-id", help="batch id of the queued tasks")
    p.add_argument("--at", metavar="TIME", type=_time,
                   help="scheduled time of the queued tasks (ISO 8601, now+2h; default: the exporter's schedule)")
    add_format_options(p)
    p.set_defaults(handler=export)

    _register_queue(sub)

    p = sub.add_parser(
        "run", help="run the export queue in the foreground (Ctrl-C stops gracefully)",
        description="Process queued export tasks of the archive device as they become due, until Ctrl-C (the "
        "running exports finish or go back to the queue). With --until-idle, process what is due now and exit.",
    )
    add_config_options(p)
    add_queue_options(p)
    add_source_options(p)
    p.add_argument("--until-idle", action="store_true", help="process what is due now, then exit")
    p.add_argument("--wait-for-scheduled", action="store_true",
                   help="with --until-idle: also wait for tasks scheduled later (retries included)")
    p.add_argument("--poll-interval", type=float, default=None, help="seconds between looks at the queue")
    p.add_argument("--stop-timeout", type=float, default=30.0,
                   help="seconds running exports get to finish on Ctrl-C (default 30)")
    p.add_argument("--progress-interval", type=float, default=60.0, metavar="SECONDS",
                   help="not on a terminal: a progress line (tasks done and waiting, running tasks, instances/s, "
                   "MB/s) every SECONDS while something happens (default 60; 0: none). On a terminal a live "
                   "status line shows the same")
    p.add_argument("--metrics-port", type=int, metavar="PORT",
                   help="serve Prometheus metrics at http://HOST:PORT/metrics (needs the 'web' extra)")
    p.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST",
                   help="address the metrics listen on (default 127.0.0.1: this machine only)")
    add_live_options(p)
    p.set_defaults(handler=run)

    _register_schedule(sub)
    _register_storescp(sub)


def _studies_in(root: str) -> list[str]:
    """The Study Instance UIDs of the DICOM files under ``root``, in the order first found."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    uids: dict[str, None] = {}
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file():
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=[0x0020000D])
        except (InvalidDicomError, OSError, ValueError, EOFError):  # not DICOM: the source skips it too
            continue
        uid = getattr(ds, "StudyInstanceUID", None)
        if uid:
            uids.setdefault(str(uid))
    return list(uids)


def export(args: argparse.Namespace) -> int:
    from dcm_exporter.exporter import Exporter

    if (args.series or args.instance) and (not args.study or len(args.study) != 1):
        raise ConfigurationError("--series / --instance need exactly one --study")
    if args.instance and not args.series:
        raise ConfigurationError("--instance needs its --series")
    configuration = load_configuration(args)
    if args.exporter_id not in configuration.exporters:
        raise unknown_error("exporter", args.exporter_id, configuration.exporters, "configured exporters")
    studies = list(args.study or ())
    if args.all_studies:
        root = option(args, "source")
        if root is None:
            raise ConfigurationError("--all-studies needs --source DIR")
        if not Path(root).is_dir():
            raise ConfigurationError(f"source folder {root} does not exist (or is not a folder)")
        studies = _studies_in(root)
        if not studies:
            error(f"no DICOM studies found in {root}")
            return EXIT_FAILED
    if args.now:
        return _export_now(args, configuration, studies)
    from dcm_exporter.sources import FileSystemSource

    source = open_source(args) if option(args, "source") else _NoSource()
    with Exporter(configuration, source, store=open_store(args), device_name=option(args, "device")) as exporter:
        if args.series:
            tasks = [
                exporter.schedule_export(args.exporter_id, study, args.series, args.instance, batch_id=args.batch_id,
                                         scheduled_time=args.at, requester="dcm-exporter export")
                for study in studies
            ]
        else:  # whole studies (--all-studies may find thousands): one transaction for them all
            tasks = exporter.schedule_exports(
                args.exporter_id, studies, batch_id=args.batch_id, scheduled_time=args.at,
                requester="dcm-exporter export",
            )
    if isinstance(source, FileSystemSource):
        source.close()
    _write_tasks(tasks, args)
    if output_format(args) == "table":
        info(f"{len(tasks)} task(s) queued in {shown_queue(args)}; 'dcm-exporter run' performs them")
    return EXIT_OK


class _NoSource:
    """Queueing needs no instances: a source that has none (the runner uses a real one)."""

    def find(self, study_uid: str, series_uid: str | None = None, sop_instance_uid: str | None = None) -> list[Any]:
        return []

    def close(self) -> None:
        pass


def _outcome_row(study: str, outcome: Outcome) -> dict[str, Any]:
    return {
        "study_uid": study,
        "status": outcome.status.value,
        "completed": outcome.completed,
        "warning": outcome.warning,
        "failed": outcome.failed,
        "missing": outcome.missing,
        "remaining": outcome.remaining,
        "message": outcome.message,
        "error": outcome.failure_summary,
        "failed_instances": [_failure_row(f) for f in outcome.failures[:MAX_SHOWN_FAILURES]],
        "failed_instances_omitted": max(0, len(outcome.failures) - MAX_SHOWN_FAILURES),
    }


def _not_performed_row(study: str, instances: int, exc: Exception) -> dict[str, Any]:
    return {
        "study_uid": study, "status": "FAILED", "completed": 0, "warning": 0, "failed": 0, "missing": 0,
        "remaining": instances, "message": None, "error": str(exc), "failed_instances": [],
        "failed_instances_omitted": 0,
    }


#: failed instances shown in full (as many as a task keeps); beyond that a count
MAX_SHOWN_FAILURES = 100
FAILURE_COLUMNS = ("sop_instance_uid", "status_code", "reason")


def _failure_row(failure: Any) -> dict[str, Any]:
    from dcm_exporter.export import status_text

    return {
        "sop_instance_uid": failure.sop_instance_uid,
        "status_code": None if failure.status_code is None else status_text(failure.status_code),
        "reason": failure.reason,
        "missing": failure.missing,
    }


def _write_failures(rows: list[dict[str, Any]], omitted: int, heading: str) -> None:
    """The failed instances under a table: UID, status, reason (table format only), never cut to the terminal's
    width: a cut reason would say neither where nor why."""
    if not rows:
        return
    info(heading)
    write_rows(rows, FAILURE_COLUMNS, fmt="table", status_column=None, fit=False)
    if omitted:
        info(f"... and {omitted} more failed instance(s) (not recorded one by one)")


class _Counter:
    """A transport progress callback that moves a progress bar one step per instance."""

    def __init__(self, bar: ProgressBar) -> None:
        self.bar = bar
        self.done = 0

    def __call__(self, ref: Any, result: Any) -> None:
        self.done += 1
        self.bar.update(self.done)


def _export_now(args: argparse.Namespace, configuration: Configuration, studies: list[str]) -> int:
    from dcm_exporter.exporter import Exporter

    rows = []
    with open_source(args) as source, Exporter(configuration, source) as exporter:
        for study in studies:
            refs = source.find(study, args.series, args.instance)
            try:
                with ProgressBar(len(refs), f"{study[:28]}") as bar:
                    outcome = exporter.export_now(args.exporter_id, study, args.series, args.instance,
                                                  progress=_Counter(bar))
            except TransportError as exc:
                # the export could not be performed at all (no association, a refused request): a FAILED
                # row with the reason, as the queue would record it, and the other studies still go
                rows.append(_not_performed_row(study, len(refs), exc))
                continue
            rows.append(_outcome_row(study, outcome))
            if not refs:
                warning(f"no instance of {outcome.entity or study} in the source folder {option(args, 'source')}: "
                        "nothing was sent")
    fmt = output_format(args)
    columns: tuple[str, ...] = ("study_uid", "status", "completed", "warning", "failed", "missing", "message")
    if fmt == "json":
        columns += ("remaining", "error", "failed_instances", "failed_instances_omitted")
    write_rows(rows, columns, fmt=fmt)
    if fmt == "table":
        for row in rows:
            if row["error"] and not row["failed_instances"]:
                info(f"{row['study_uid']}: {row['error']}")
            _write_failures(row["failed_instances"], row["failed_instances_omitted"],
                            f"failed instances of study {row['study_uid']}:")
    return EXIT_OK if all(r["status"] == "COMPLETED" for r in rows) else EXIT_FAILED


# --- queue ---------------------------------------------------------------------------------------------------


def _add_filters(p: argparse.ArgumentParser, *, ids: bool = True) -> None:
    f = p.add_argument_group("filters (all given must match)")
    if ids:
        f.add_argument("task_ids", nargs="*", type=int, metavar="TASK_ID", help="task ids")
    f.add_argument("--exporter-id", help="dcmExporterID")
    f.add_argument("--status", action="append", metavar="STATUS",
                   help="SCHEDULED, 'IN PROCESS', COMPLETED, WARNING, FAILED, CANCELED, 'SCHEDULED FOR RETRY' "
                   "(repeat for any of several)")
    f.add_argument("--study", dest="study_uid", metavar="UID", type=_uid, help="Study Instance UID")
    f.add_argument("--batch-id", help="batch id")
    f.add_argument("--device-name", help="device the tasks belong to")
    f.add_argument("--queue-name", help="dcmQueueName")
    f.add_argument("--created-after", type=_time, metavar="TIME")
    f.add_argument("--created-before", type=_time, metavar="TIME")
    f.add_argument("--updated-after", type=_time, metavar="TIME")
    f.add_argument("--updated-before", type=_time, metavar="TIME")


def _filter(args: argparse.Namespace, *, paging: bool = False, require: bool = False) -> TaskFilter:
    from dcm_exporter.queue import TaskFilter

    criteria: dict[str, Any] = {
        name: getattr(args, name, None)
        for name in ("exporter_id", "study_uid", "batch_id", "device_name", "queue_name", "created_after",
                     "created_before", "updated_after", "updated_before")
        if getattr(args, name, None) is not None
    }
    if getattr(args, "status", None):
        criteria["status"] = tuple(args.status)
    if getattr(args, "task_ids", None):
        criteria["task_ids"] = tuple(args.task_ids)
    if require and not criteria and not getattr(args, "all", False):
        raise ConfigurationError("name the tasks: give task ids or filters, or --all for every task")
    if paging:
        order_by = args.order_by
        if getattr(args, "desc", False) and not order_by.startswith("-"):
            order_by = "-" + order_by
        criteria.update(offset=args.offset, limit=args.limit, order_by=order_by)
    return TaskFilter(**criteria)


def queue_add(args: argparse.Namespace) -> int:
    from dcm_exporter.cli._context import save_configuration
    from dcm_exporter.cli._wizard import archive_device
    from dcm_exporter.models import QueueDescriptor

    configuration = load_configuration(args)
    device = archive_device(configuration, option(args, "device"))
    name = args.queue_name
    if device.queue(name) is not None:
        raise ConfigurationError(f"queue {name} exists already on device {device.device_name}")
    fields: dict[str, Any] = {"queue_name": name, "description": args.description}
    if args.max_retries is not None:
        fields["max_retries"] = args.max_retries
    if args.max_tasks_parallel is not None:
        fields["max_tasks_parallel"] = args.max_tasks_parallel
    try:
        if args.retry_delay is not None:
            from dcm_exporter.models.duration import parse_duration

            fields["retry_delay"] = parse_duration(args.retry_delay)
        queue = QueueDescriptor(**fields)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"queue {name}: {exc}") from exc
    where = save_configuration(args, configuration.put_queue(queue, device_name=device.device_name),
                               output=args.output, since=configuration)
    info(f"queue {name} added to device {device.device_name} in {where}")
    return EXIT_OK


def queue_remove(args: argparse.Namespace) -> int:
    from dcm_exporter.cli._context import save_configuration

    configuration = load_configuration(args)
    name = args.queue_name
    holder = next((d for d in configuration.devices if d.queue(name) is not None), None)
    if holder is None:
        raise unknown_error("queue", name, configuration.queues, "queues")
    users = [e.exporter_id for e in holder.exporters if e.queue_name == name]
    if users and not args.force:
        raise ConfigurationError(f"queue {name} runs the tasks of exporter(s) {', '.join(users)}: change or "
                                 "delete them first, or give --force")
    where = save_configuration(args, configuration.remove_queue(name), output=args.output, since=configuration)
    info(f"queue {name} removed from device {holder.device_name} in {where}")
    if users:
        warning(f"exporter(s) {', '.join(users)} still name queue {name}")
    return EXIT_OK


def _queue_parser(cmds: Sub, name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = cmds.add_parser(name, help=help, description=description or help)
    add_queue_options(p)
    add_config_options(p)
    return p


def _register_queue(sub: Sub) -> None:
    group = sub.add_parser("queue", help="list, count, cancel, reschedule, delete and purge export tasks; "
                           "add and remove queues",
                           description="Export tasks in the queue (--queue sqlite:PATH | postgresql://...).")
    cmds = group.add_subparsers(dest="queue_command", metavar="COMMAND", required=True)

    p = cmds.add_parser("add", help="add a queue (dcmQueue) to the configuration, for exporters to name",
                        description="Add a queue (dcmQueue) to the archive device (--device) of the "
                        "configuration; written back to --config FILE / --ldap, or to --output FILE.")
    add_config_options(p)
    p.add_argument("queue_name", metavar="NAME")
    p.add_argument("--description", help="dicomDescription")
    p.add_argument("--max-retries", type=int, default=None, help="dcmMaxRetries (default 0)")
    p.add_argument("--retry-delay", metavar="DURATION", help="dcmRetryDelay, e.g. PT30S (default PT1M)")
    p.add_argument("--max-tasks-parallel", type=int, default=None, help="dcmMaxTasksParallel (default 1)")
    add_output_option(p)
    p.set_defaults(handler=queue_add)

    p = cmds.add_parser("remove", help="remove a queue (dcmQueue) from the configuration (refused while "
                        "exporters use it, unless --force)",
                        description="Remove a queue (dcmQueue) from the configuration. Its tasks in the task "
                        "store are left alone ('queue delete' removes tasks).")
    add_config_options(p)
    p.add_argument("queue_name", metavar="NAME")
    p.add_argument("--force", action="store_true", help="remove it although exporters use it")
    add_output_option(p)
    add_confirm_options(p)
    p.set_defaults(handler=queue_remove)

    p = _queue_parser(cmds, "list", "list export tasks")
    _add_filters(p)
    p.add_argument("--limit", type=int, default=None, help="at most this many")
    p.add_argument("--offset", type=int, default=0, help="skip this many first")
    p.add_argument("--order-by", metavar="FIELD", default="created_time",
                   help="field to order by (default created_time); descending: --desc, or a '-' prefix written "
                   "--order-by=-task_id")
    p.add_argument("--desc", action="store_true", help="descending order (newest first with the default field)")
    add_format_options(p)
    p.set_defaults(handler=queue_list)

    p = _queue_parser(cmds, "show", "one export task in full, with its failed instances and why they failed")
    p.add_argument("task_id", type=int, metavar="TASK_ID", help="the task id")
    add_format_options(p, csv=False)
    p.set_defaults(handler=queue_show)

    p = _queue_parser(cmds, "count", "count export tasks")
    _add_filters(p)
    add_format_options(p, csv=False)
    p.set_defaults(handler=queue_count)

    for name, help, handler in (
        ("cancel", "cancel tasks that are not final (never retried)", queue_cancel),
        ("delete", "delete tasks", queue_delete),
        ("reschedule", "schedule tasks again (failures reset), optionally on another exporter", queue_reschedule),
    ):
        p = _queue_parser(cmds, name, help)
        _add_filters(p)
        p.add_argument("--all", action="store_true", help="every task (when no id or filter is given)")
        if name == "reschedule":
            p.add_argument("--at", type=_time, metavar="TIME", help="when (default now)")
            p.add_argument("--to-exporter", metavar="ID", help="move the tasks to this exporter (its queue and AE)")
        add_format_options(p, csv=False)
        p.set_defaults(handler=handler)

    p = _queue_parser(cmds, "batches", "per batch: number of tasks in each status")
    _add_filters(p, ids=False)
    add_format_options(p)
    p.set_defaults(handler=queue_batches)

    p = _queue_parser(cmds, "purge", "delete finished tasks older than their queue's purge delays "
                      "(dcmPurgeQueueMessage*Delay; needs the configuration)")
    add_format_options(p, csv=False)
    p.set_defaults(handler=queue_purge)


def queue_list(args: argparse.Namespace) -> int:
    criteria = _filter(args, paging=True)  # a bad filter is a usage error before any store is opened
    _write_tasks(_manager(args, read_only=True).tasks(criteria), args)
    return EXIT_OK


def queue_show(args: argparse.Namespace) -> int:
    manager = _manager(args, read_only=True)
    task = manager.get(args.task_id)
    data: dict[str, Any] = {name: getattr(task, name) for name in ALL_TASK_FIELDS}
    data["task_type"] = task.task_type
    if task.destination_aet:
        data["destination_aet"] = task.destination_aet
    failures = [_failure_row(f) for f in task.failed_instances]
    result = task.result if task.result_json else None
    omitted = result.get("omitted", 0) if isinstance(result, dict) else 0
    if output_format(args) == "json":
        data["failed_instances"] = failures
        data["failed_instances_omitted"] = omitted
        data["result"] = result
        write_mapping(data, fmt="json")
        return EXIT_OK
    write_mapping({k: v for k, v in data.items() if v not in (None, (), "")})
    _write_failures(failures, omitted, f"{len(failures) + omitted} failed instance(s):")
    return EXIT_OK


def queue_count(args: argparse.Namespace) -> int:
    criteria = _filter(args)
    count = _manager(args, read_only=True).count(criteria)
    if output_format(args) == "json":
        write_mapping({"count": count}, fmt="json")
    else:
        info(str(count))
    return EXIT_OK


def _report_ids(args: argparse.Namespace, verb: str, ids: list[int], manager: TaskManager | None = None) -> int:
    """Print what was done; task ids named on the command line that were not acted on are reported
    one by one (no such task, or its status did not allow it) and make the exit status 1."""
    skipped: dict[int, str] = {}
    named = list(dict.fromkeys(getattr(args, "task_ids", None) or ()))
    missed = [i for i in named if i not in set(ids)]
    if missed and manager is not None:
        from dcm_exporter.queue import TaskFilter

        found = {t.task_id: t for t in manager.tasks(TaskFilter(task_ids=tuple(missed)))}
        for task_id in missed:
            task = found.get(task_id)
            skipped[task_id] = (f"no task {task_id} in {shown_queue(args)}" if task is None
                                else f"task {task_id} not {verb}: it is {task.status.value}"
                                + ("" if verb != "canceled" else " (only tasks that are not final can be canceled)"))
    if output_format(args) == "json":
        data: dict[str, Any] = {verb: ids, "count": len(ids)}
        if skipped:
            data["not_" + verb] = [{"task_id": i, "reason": r} for i, r in skipped.items()]
        write_mapping(data, fmt="json")
    else:
        info(f"{verb} {len(ids)} task(s)" + (f": {', '.join(map(str, ids))}" if ids else ""))
        for reason in skipped.values():
            error(reason)
    return EXIT_FAILED if skipped else EXIT_OK


def queue_cancel(args: argparse.Namespace) -> int:
    manager = _manager(args)
    return _report_ids(args, "canceled", manager.cancel(_filter(args, require=True)), manager)


def queue_delete(args: argparse.Namespace) -> int:
    manager = _manager(args)
    return _report_ids(args, "deleted", manager.delete(_filter(args, require=True)), manager)


def queue_reschedule(args: argparse.Namespace) -> int:
    manager = _manager(args, need_configuration=args.to_exporter is not None)
    ids = manager.reschedule(_filter(args, require=True), scheduled_time=args.at, exporter_id=args.to_exporter)
    return _report_ids(args, "rescheduled", ids, manager)


def queue_batches(args: argparse.Namespace) -> int:
    from dcm_exporter.queue import TaskStatus

    criteria = _filter(args)
    summaries = _manager(args, read_only=True).batches(criteria)
    rows = []
    for s in summaries:
        row: dict[str, Any] = {"batch_id": s.batch_id, "total": s.total}
        for status in TaskStatus:
            row[status.value.lower().replace(" ", "_")] = s.count(status)
        row["exporter_ids"] = list(s.exporter_ids)
        rows.append(row)
    columns = ["batch_id", "total", *(st.value.lower().replace(" ", "_") for st in TaskStatus), "exporter_ids"]
    write_rows(rows, columns, fmt=output_format(args), status_column=None)
    return EXIT_OK


def queue_purge(args: argparse.Namespace) -> int:
    purged = _manager(args, need_configuration=True).purge()
    if output_format(args) == "json":
        write_mapping({"purged": purged}, fmt="json")
    else:
        info(f"purged {purged} task(s)")
    return EXIT_OK


# --- run -----------------------------------------------------------------------------------------------------


_FINISHED = frozenset({"COMPLETED", "WARNING", "FAILED", "CANCELED", "SCHEDULED FOR RETRY"})


class _TaskEndsPrinted:
    """A filter on the ``dcm_exporter.queue`` logger for ``run``: the end of a task is printed once, by the
    command's own line, so the queue's own log record of it (a WARNING for anything but COMPLETED) is
    dropped. Every other record (claims failing, lost leases, ...) passes."""

    def filter(self, record: Any) -> bool:
        return not (getattr(record, "task_id", None) is not None and getattr(record, "status", None) in _FINISHED)


def _queues_in_use(configuration: Configuration, device_name: str, queue_names: Iterable[str]) -> list[str]:
    """The queues of the device that its exporters (and their storage commitment / IAN follow-ups) use."""
    from dcm_exporter.queue.manager import IAN_QUEUE, STGCMT_QUEUE

    device = configuration.device(device_name) if configuration.has_device(device_name) else None
    exporters = device.exporters if device is not None else ()
    used = {e.queue_name for e in exporters}
    if any(e.stgcmt_scp for e in exporters):
        used.add(STGCMT_QUEUE)
    if any(e.ian_destinations for e in exporters):
        used.add(IAN_QUEUE)
    return [q for q in queue_names if q in used]


def _banner(configuration: Configuration, device_name: str, args: argparse.Namespace) -> str:
    names = list(configuration.queues)
    used = _queues_in_use(configuration, device_name, names)
    exporters: dict[str, list[str]] = {}
    if configuration.has_device(device_name):
        for e in configuration.device(device_name).exporters:
            exporters.setdefault(e.queue_name, []).append(e.exporter_id)
    shown = ", ".join(f"{q} ({', '.join(exporters[q])})" if q in exporters else q for q in used) or "none"
    idle = len(names) - len(used)
    others = f"; {idle} other queue(s) without exporters stay idle" if idle else ""
    return (f"running the export queue of device {device_name} ({shown_queue(args)}): queues "
            f"{shown}{others}; " + ("until idle" if args.until_idle else "Ctrl-C stops"))


def _task_end(task: ExportTask) -> str:
    """One line per finished task (the only place a task end is printed while ``run`` runs)."""
    text = task.summary
    retry = ""
    if task.status.value == "SCHEDULED FOR RETRY":
        when = task.scheduled_time.astimezone().replace(microsecond=0).isoformat()
        retry = f" (failure {task.number_of_failures}, next attempt at {when})"
    return f"task {task.task_id} {task.exporter_id} {task.entity}: {task.status.value}{retry} {text}".rstrip()


def _run_progress(args: argparse.Namespace, exporter: Any) -> Any:
    """The live line (a terminal) or the periodic summary (a log) of ``run``."""
    from dcm_exporter.cli._run_progress import RunProgress

    waiting_states = ("SCHEDULED", "SCHEDULED FOR RETRY")
    device = exporter.queue.device_name

    def waiting() -> int | None:
        return int(exporter.queue.count(status=waiting_states, device_name=device))

    return RunProgress(waiting, live=sys.stderr.isatty() and sys.stdout.isatty(),
                       interval=args.progress_interval, emit=info)


def _sigterm_stops_like_ctrl_c() -> Callable[[], None]:
    """Make SIGTERM (systemd, docker stop, kill) stop ``run`` as Ctrl-C does; returns how to undo it.

    Python's default for SIGTERM ends the process at once: running exports would stay IN PROCESS until the
    next start or their lease. Only possible in the main thread (else nothing changes).
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def run(args: argparse.Namespace) -> int:
    import logging

    from dcm_exporter.exporter import Exporter
    from dcm_exporter.queue import TaskResult

    configuration, loaded_in = load_timed(args)
    restore_sigterm = _sigterm_stops_like_ctrl_c()
    failures = [0]
    queue_log = logging.getLogger("dcm_exporter.queue")
    dedupe = _TaskEndsPrinted()
    if getattr(args, "verbose", 0) < 2:  # -vv shows every record as it is
        queue_log.addFilter(dedupe)
    try:
        with open_source(args) as source, Exporter(
            configuration, source, store=open_store(args), device_name=option(args, "device")
        ) as exporter:

            progress = _run_progress(args, exporter)
            exporter.on_task_started(progress.started)

            @exporter.on_task_finished
            def report(result: TaskResult) -> None:
                progress.finished(result)
                task = result.task
                if task is None:
                    return
                if task.status.value != "COMPLETED":
                    failures[0] += 1
                progress.clear()
                info(_task_end(task))

            info(_banner(configuration, exporter.queue.device_name, args))
            if args.until_idle:
                progress.start()
                try:
                    exporter.run_until_idle(wait_for_scheduled=args.wait_for_scheduled, progress=progress.instance)
                finally:
                    progress.stop()
                if args.progress_interval > 0 or progress.live:
                    info(f"done: {progress.totals()}")
                return EXIT_OK if failures[0] == 0 else EXIT_FAILED
            reloader, close_reloader = make_reloader(args, exporter, loaded_in)
            restore_sighup = sighup_reloads(reloader)
            stop_metrics = (start_metrics_server(args.metrics_host, args.metrics_port, exporter, reloader)
                            if args.metrics_port is not None else None)
            if stop_metrics is not None:
                info(f"metrics at http://{args.metrics_host}:{args.metrics_port}/metrics")
            exporter.start(poll_interval=args.poll_interval, progress=progress.instance)
            progress.start()
            try:
                while True:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                progress.stop()
                info("stopping: running exports finish or go back to the queue ...")
                exporter.stop(args.stop_timeout)
                info(f"stopped: {progress.totals()}")
            finally:
                progress.stop()
                restore_sighup()
                if reloader is not None:
                    reloader.stop()
                close_reloader()
                if stop_metrics is not None:
                    stop_metrics()
        return EXIT_OK
    finally:
        queue_log.removeFilter(dedupe)
        restore_sigterm()


# --- schedule ------------------------------------------------------------------------------------------------


def _register_schedule(sub: Sub) -> None:
    group = sub.add_parser("schedule", help="is a time inside a dcmSchedule; when does it next open and close",
                           description="Evaluate dcm4che schedules (dcmSchedule) or cron: windows.")
    cmds = group.add_subparsers(dest="schedule_command", metavar="COMMAND", required=True)
    for name, help in (
        ("check", "is TIME (default now) inside the schedules? exit status 0 inside, 1 outside"),
        ("next", "when do the schedules next open, and when does that window close"),
    ):
        p: argparse.ArgumentParser = cmds.add_parser(name, help=help, description=help + ". Several schedules are "
                                                     "OR-ed, none means always (as dcm4chee).")
        p.add_argument("schedules", nargs="*", metavar="SCHEDULE", help="e.g. 'hour=18-6 dayOfWeek=*'")
        p.add_argument("--exporter", metavar="ID", help="take the schedules of this exporter (needs --config/--ldap)")
        p.add_argument("--queue-name", metavar="NAME", help="take the schedules of this queue")
        p.add_argument("--at", type=_time, metavar="TIME", help="the time to look at (default now)")
        p.add_argument("--tz", metavar="ZONE", help="time zone of the wall clock, e.g. Europe/Vienna (default local)")
        if name == "next":
            p.add_argument("--count", type=int, default=1, help="list this many windows (default 1)")
        add_config_options(p)
        add_format_options(p, csv=False)
        p.set_defaults(handler=schedule_check if name == "check" else schedule_next)


def _schedules(args: argparse.Namespace) -> tuple[Any, datetime]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from dcm_exporter.schedule import Schedules, local_zone

    try:
        tz = ZoneInfo(args.tz) if args.tz else None
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(f"unknown time zone {args.tz!r}") from exc
    values = list(args.schedules)
    if args.exporter or args.queue_name:
        configuration = load_configuration(args)
        if args.exporter:
            exporter = configuration.exporters.get(args.exporter)
            if exporter is None:
                raise ConfigurationError(f"Unknown exporter: {args.exporter}"
                                         f"{did_you_mean(args.exporter, configuration.exporters)}")
            values += exporter.schedules.to_strings()
        if args.queue_name:
            queue = configuration.queues.get(args.queue_name)
            if queue is None:
                raise ConfigurationError(f"Unknown queue: {args.queue_name}"
                                         f"{did_you_mean(args.queue_name, configuration.queues)}")
            values += queue.schedules.to_strings()
    schedules = Schedules.parse(values, tz=tz)
    at = args.at or datetime.now(tz or local_zone())
    return schedules, at.astimezone(tz or local_zone())


def _fmt(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


def schedule_check(args: argparse.Namespace) -> int:
    schedules, at = _schedules(args)
    inside = schedules.contains(at)
    closes = schedules.window_end(at) if inside else None
    opens = None if inside else schedules.ceil(at)
    data = {"at": _fmt(at), "schedules": list(schedules.to_strings()) or ["(always)"], "inside": inside,
            "window_closes": _fmt(closes), "next_opens": _fmt(opens)}
    if output_format(args) == "json":
        write_mapping(data, fmt="json")
    elif inside:
        info(f"{_fmt(at)} is inside {' | '.join(data['schedules'])}; "
             + (f"the window closes at {_fmt(closes)}" if closes else "the window never closes"))
    else:
        info(f"{_fmt(at)} is outside {' | '.join(data['schedules'])}; the next window opens at {_fmt(opens)}")
    return EXIT_OK if inside else EXIT_FAILED


def schedule_next(args: argparse.Namespace) -> int:
    schedules, at = _schedules(args)
    windows = []
    cursor = at
    for _ in range(max(args.count, 1)):
        opens = schedules.ceil(cursor)
        closes = schedules.window_end(opens)
        windows.append({"opens": _fmt(opens), "closes": _fmt(closes)})
        if closes is None:
            break
        cursor = closes
    if output_format(args) == "json":
        write_mapping({"at": _fmt(at), "schedules": list(schedules.to_strings()), "windows": windows}, fmt="json")
    else:
        write_rows(windows, ("opens", "closes"), status_column=None)
    return EXIT_OK


# --- storescp ------------------------------------------------------------------------------------------------


def _register_storescp(sub: Sub) -> None:
    p = sub.add_parser(
        "storescp", help="a receiving Store SCP for trials (like the archive's pre-configured storescp device)",
        description="Receive C-STOREs (and answer C-ECHOs) until Ctrl-C, writing each object to --output-dir as "
        "<SOP Instance UID>.dcm; prints a line per object (calling AE -> called AE). Associations addressed to "
        "another AE title than --aet are rejected unless --any-called-aet.",
    )
    p.add_argument("--aet", default="STORESCP", help="AE title (default STORESCP)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=11117, help="port (default 11117; 0 = any free port)")
    p.add_argument("--output-dir", default="received", metavar="DIR", help="where to write (default ./received)")
    p.add_argument("--count-only", action="store_true", help="do not write files, only count")
    p.add_argument("--status", type=lambda v: int(v, 0), default=0, help="C-STORE status to answer (default 0)")
    p.add_argument("--quiet", "-q", action="store_true", help="no line per object")
    p.add_argument("--exit-after", type=int, default=None, metavar="N",
                   help="stop after N objects were received (for scripts)")
    p.add_argument("--any-called-aet", action="store_true",
                   help="accept associations addressed to any called AE title (default: reject those not "
                   "addressed to --aet with 'called AE title not recognised', as dcm4che's storescp does, so "
                   "a wrong AE title in the configuration shows)")
    p.set_defaults(handler=storescp)


def storescp(args: argparse.Namespace) -> int:
    from dcm_exporter.testing import StoreSCP

    scp = StoreSCP(args.aet, host=args.host, port=args.port,
                   output_dir=None if args.count_only else args.output_dir, status=args.status,
                   require_called_aet=not args.any_called_aet)
    scp.start()
    where = "counting only" if args.count_only else f"writing to {Path(args.output_dir).resolve()}"
    info(f"Store SCP {args.aet} listening on {args.host}:{scp.port}, {where}; Ctrl-C stops")
    seen = 0
    stop = threading.Event()
    try:
        while not stop.is_set():
            scp.wait_for(seen + 1, timeout=0.5)
            received = scp.received
            for r in received[seen:]:
                if not args.quiet:
                    info(f"{r.calling_ae_title} -> {r.called_ae_title}: {r.sop_instance_uid} "
                         f"({r.size} bytes, status 0x{r.status:04X})")
            seen = len(received)
            if args.exit_after is not None and seen >= args.exit_after:
                stop.set()
    except KeyboardInterrupt:
        pass
    finally:
        scp.stop()
    info(f"received {scp.count} object(s) on {scp.associations} association(s)", stream=sys.stderr)
    return EXIT_OK
