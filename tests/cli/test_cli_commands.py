"""Every ``dcm-exporter`` command driven in a subprocess, as a user types it, against real files, a real SQLite
queue, an in-process Store SCP (the destination) and, for LDAP, a real slapd."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _cli import cli_env, ok, ok_json, run_cli

from dcm_exporter.cli import build_parser
from dcm_exporter.cli._demo import demo_configuration, with_port
from dcm_exporter.codecs import device_json, ldif


def _leaf_commands() -> list[list[str]]:
    """Every command path of the parser (``[]``, ``["queue"]``, ``["queue", "list"]``, ...)."""
    import argparse

    out: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        out.append(path)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, [*path, name])

    walk(build_parser(), [])
    return out


COMMANDS = _leaf_commands()


def test_the_parser_has_every_command_of_the_issue() -> None:
    names = {" ".join(c) for c in COMMANDS}
    for expected in (
        "config validate", "config convert", "config show",
        "exporter list", "exporter show", "exporter create", "exporter update", "exporter delete",
        "remote-ae add", "remote-ae list", "remote-ae verify", "export",
        "queue list", "queue count", "queue cancel", "queue reschedule", "queue delete", "queue batches",
        "queue purge", "run", "schedule check", "schedule next", "storescp", "demo",
        "webapp add", "webapp list", "webapp remove", "storage add", "storage list", "storage remove",
    ):
        assert expected in names


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_help_on_every_level(command: list[str], tmp_path: Path) -> None:
    result = run_cli(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: dcm-exporter" + "".join(f" {c}" for c in command))
    assert result.stderr == ""


def test_usage_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    for args in (["no-such-command"], ["exporter", "list"], ["queue", "list", "--status", "BOGUS"],
                 ["schedule", "check", "hour=24"], ["exporter", "list", "--config", "missing.ldif"]):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stderr.strip(), args
    no_config = run_cli("exporter", "list", cwd=tmp_path)
    assert "give --config FILE" in no_config.stderr


def test_version(tmp_path: Path) -> None:
    from dcm_exporter import __version__

    assert ok("--version", cwd=tmp_path).strip() == f"dcm-exporter {__version__}"


# --- configuration files ----------------------------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.ldif"
    path.write_text(ldif.dumps(demo_configuration()))
    return path


def test_config_validate_show_and_convert_round_trip(config_file: Path, tmp_path: Path) -> None:
    out = ok("config", "validate", "--config", str(config_file), cwd=tmp_path)
    assert "2 device(s), 1 exporter(s), 1 queue(s); no issues" in out
    report = ok_json("config", "validate", str(config_file), cwd=tmp_path)
    assert report["valid"] is True and report["issues"] == []

    table = ok("config", "show", "--config", str(config_file), cwd=tmp_path)
    assert re.search(r"^dcm-exporter-demo\s+True\s+DCM4CHEE\s+localhost\s+STORESCP\s+Export1$", table, re.M), table

    json_path = tmp_path / "config.json"
    ok("config", "convert", str(config_file), str(json_path), cwd=tmp_path)
    devices = json.loads(json_path.read_text())
    assert {d["dicomDeviceName"] for d in devices} == {"dcm-exporter-demo", "storescp"}
    back = tmp_path / "back.ldif"
    ok("config", "convert", str(json_path), str(back), cwd=tmp_path)
    assert ldif.load(back).devices == ldif.load(config_file).devices
    # '-' is stdout; the global option may also come before the sub-command; env var fallback
    text = ok("--config", str(json_path), "config", "show", "--format", "ldif", cwd=tmp_path)
    assert "dn: dcmExporterID=STORESCP," in text
    env = cli_env(DCM_EXPORTER_CONFIG=str(config_file))
    assert "STORESCP" in ok("exporter", "list", cwd=tmp_path, env=env)
    piped = ok("config", "convert", "-", "-", cwd=tmp_path, input=json_path.read_text())
    assert piped.startswith("version: 1") or "dn: " in piped


def test_config_validate_reports_problems(config_file: Path, tmp_path: Path) -> None:
    # a queue that does not exist: loaded, as dcm4chee-arc loads it (its tasks cannot be queued), a warning
    # that --strict makes fatal
    broken = config_file.read_text().replace("dcmQueueName: Export1\ndicomDescription: Export to",
                                             "dcmQueueName: Nowhere\ndicomDescription: Export to")
    assert "Nowhere" in broken
    path = tmp_path / "broken.ldif"
    path.write_text(broken)
    warned = run_cli("config", "validate", str(path), cwd=tmp_path)
    assert warned.returncode == 0, warned.stdout + warned.stderr
    assert "queue Nowhere does not exist on device dcm-exporter-demo" in warned.stdout
    assert "broken.ldif:" in warned.stdout  # where: file and line
    assert run_cli("config", "validate", str(path), "--strict", cwd=tmp_path).returncode == 1

    # an exporter whose destination AE is not configured cannot work: an error
    failed_text = config_file.read_text().replace("dcmURI: dicom:STORESCP", "dcmURI: dicom:NOBODY")
    assert "NOBODY" in failed_text
    path = tmp_path / "failed.ldif"
    path.write_text(failed_text)
    failed = run_cli("config", "validate", str(path), cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Unknown AE: NOBODY" in failed.stdout and "failed.ldif:" in failed.stdout

    # a calling AE title that is not an AE of the device: a warning, fatal only with --strict
    odd = config_file.read_text().replace("Export to STORESCP\ndicomAETitle: DCM4CHEE\n",
                                          "Export to STORESCP\ndicomAETitle: SOMEONE\n")
    assert "SOMEONE" in odd
    path = tmp_path / "odd.ldif"
    path.write_text(odd)
    lenient = run_cli("config", "validate", str(path), cwd=tmp_path)
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    assert "warning" in lenient.stdout and "AE title SOMEONE is not an AE of device" in lenient.stdout
    strict = run_cli("config", "validate", str(path), "--strict", cwd=tmp_path)
    assert strict.returncode == 1

    malformed = tmp_path / "malformed.ldif"
    malformed.write_text("dn: cn=x\nobjectClass top\n")
    bad = run_cli("config", "validate", str(malformed), cwd=tmp_path)
    assert bad.returncode == 2
    assert "malformed.ldif:2" in bad.stderr


def test_config_validate_reports_a_uri_dcm4chee_cannot_read_as_an_error(config_file: Path, tmp_path: Path) -> None:
    text = config_file.read_text()
    assert "dcmURI: dicom:STORESCP\n" in text
    path = tmp_path / "noop.ldif"
    path.write_text(text.replace("dcmURI: dicom:STORESCP\n", "dcmURI: noop:\n"))
    result = run_cli("config", "validate", str(path), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr  # an error even without --strict
    assert "Traceback" not in result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("error"))
    assert "exporter 'STORESCP'" in row and "noop:" in row and "noop.ldif:" in row
    assert "Expected scheme-specific part at index 5" in row
    report = json.loads(run_cli("config", "validate", str(path), "--format", "json", cwd=tmp_path).stdout)
    assert report["valid"] is False
    assert [i["severity"] for i in report["issues"]] == ["error"]
    converted = run_cli("config", "convert", str(path), str(tmp_path / "out.json"), cwd=tmp_path)
    assert converted.returncode != 0 and "refusing to write dcmExporterID=STORESCP" in converted.stderr
    assert not (tmp_path / "out.json").exists()


def test_config_validate_says_xds_i_is_not_supported(config_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "xds.ldif"
    path.write_text(config_file.read_text().replace("dcmURI: dicom:STORESCP\n", "dcmURI: xds-i:REPOSITORY\n"))
    result = run_cli("config", "validate", str(path), cwd=tmp_path)
    assert "xds-i: exporters (XDS-I.b" in result.stdout and "not supported by dcm_exporter" in result.stdout


# --- exporters ------------------------------------------------------------------------------------------------


def test_exporter_list_show_create_update_delete(config_file: Path, tmp_path: Path) -> None:
    c = ("--config", str(config_file))
    listed = ok_json("exporter", "list", *c, cwd=tmp_path)
    assert [e["exporter_id"] for e in listed] == ["STORESCP"]
    shown = ok_json("exporter", "show", "STORESCP", *c, cwd=tmp_path)
    assert shown["uri"] == "dicom:STORESCP" and shown["device"] == "dcm-exporter-demo"

    out = ok("exporter", "create", *c, "--no-input", "--id", "NIGHT", "--uri", "dicom:STORESCP",
             "--description", "at night", "--schedule", "hour=18-6", "--property", "MultipleStoreAssociations=2",
             cwd=tmp_path)
    assert f"exporter NIGHT (dicom:STORESCP) written to {config_file}" in out
    night = ldif.load(config_file).exporters["NIGHT"]
    assert night.queue_name == "Export1" and night.ae_title == "DCM4CHEE"  # the device's only queue and AE
    assert night.schedules.to_strings() == ("hour=18-6 dayOfWeek=*",)
    assert dict(night.properties) == {"MultipleStoreAssociations": "2"}

    ok("exporter", "update", "NIGHT", *c, "--uri", "noop:nothing", "--clear-schedules", "--remove-property",
       "MultipleStoreAssociations", "--property", "a=b=c", cwd=tmp_path)
    night = ldif.load(config_file).exporters["NIGHT"]
    assert night.uri == "noop:nothing" and night.schedules.is_always and dict(night.properties) == {"a": "b=c"}

    csv_rows = list(csv.DictReader(io.StringIO(ok("exporter", "list", *c, "--format", "csv", cwd=tmp_path))))
    assert [r["exporter_id"] for r in csv_rows] == ["STORESCP", "NIGHT"]

    other = tmp_path / "other.json"
    ok("exporter", "delete", "NIGHT", *c, "--output", str(other), cwd=tmp_path)
    assert "NIGHT" not in device_json.loads(other.read_text()).exporters
    assert "NIGHT" in ldif.load(config_file).exporters  # --output left the source alone
    ok("exporter", "delete", "NIGHT", *c, cwd=tmp_path)
    assert "NIGHT" not in ldif.load(config_file).exporters


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--id", "X", "--uri", "dicom:NOBODY"], "Unknown AE: NOBODY (known AEs: STORESCP"),
        (["--id", "X", "--uri", "ftp:host"], "unknown scheme ftp: (registered schemes: dicom:"),
        (["--id", "X", "--uri", "STORESCP"], "has no scheme"),
        (["--id", "STORESCP", "--uri", "noop:nothing"], "an exporter with ID STORESCP exists already"),
        (["--id", "X", "--uri", "noop:nothing", "--queue-name", "Q9"], "queue Q9 does not exist on device"),
        (["--id", "X", "--uri", "noop:nothing", "--ae-title", "NOPE"], "NOPE is not an AE of device"),
        (["--id", "X", "--uri", "noop:nothing", "--schedule", "hour=1-2 day=3"], "invalid schedule"),
        (["--id", "X", "--uri", "noop:nothing", "--property", "novalue"], "a property is key=value"),
        (["--uri", "noop:nothing"], "missing --id"),
    ],
)
def test_exporter_create_rejects_bad_flags(flags: list[str], message: str, config_file: Path, tmp_path: Path) -> None:
    before = config_file.read_text()
    result = run_cli("exporter", "create", "--config", str(config_file), "--no-input", *flags, cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert config_file.read_text() == before


# --- remote AEs, C-ECHO, export, storescp --------------------------------------------------------------------


def test_remote_ae_add_list_and_verify(config_file: Path, tmp_path: Path, store_scp: Any) -> None:
    c = ("--config", str(config_file))
    ok("remote-ae", "add", "PEER", "--host", "127.0.0.1", "--port", str(store_scp.port), "--description", "peer",
       *c, cwd=tmp_path)
    conf = ldif.load(config_file)
    remote = conf.remote_ae("PEER")
    assert (remote.hostname, remote.port, remote.device_name) == ("127.0.0.1", store_scp.port, "peer")
    assert any("dicomAETitle=PEER,cn=Unique AE Titles Registry" in e.dn for e in conf.other_entries)
    rows = ok_json("remote-ae", "list", *c, cwd=tmp_path)
    assert {r["ae_title"]: r["port"] for r in rows}["PEER"] == store_scp.port

    echo = ok_json("remote-ae", "verify", "PEER", *c, cwd=tmp_path)
    assert echo["ok"] is True and echo["status"] == "0x0000" and echo["calling_ae_title"] == "DCM4CHEE"
    assert store_scp.echoes == 1

    again = run_cli("remote-ae", "add", "PEER", "--host", "h", "--port", "1", *c, cwd=tmp_path)
    assert again.returncode == 2 and "AE PEER exists already" in again.stderr

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    ok("remote-ae", "add", "DEAD", "--host", "127.0.0.1", "--port", str(dead), *c, cwd=tmp_path)
    failed = run_cli("remote-ae", "verify", "DEAD", *c, cwd=tmp_path)
    assert failed.returncode == 1
    assert f"C-ECHO DEAD at 127.0.0.1:{dead} failed" in failed.stderr


def _config_for(scp_port: int, tmp_path: Path) -> Path:
    path = tmp_path / "scp.ldif"
    path.write_text(ldif.dumps(with_port(demo_configuration(), "STORESCP", scp_port)))
    return path


def test_export_now_sends_a_study_and_reports_the_outcome(tmp_path: Path, store_scp: Any, small_study: Any) -> None:
    config = _config_for(store_scp.port, tmp_path)
    source = str(small_study.directory)
    rows = ok_json("export", "STORESCP", "--study", small_study.study_uid, "--now", "--config", str(config),
                   "--source", source, cwd=tmp_path)
    assert rows == [{
        "study_uid": small_study.study_uid, "status": "COMPLETED", "completed": 6, "warning": 0, "failed": 0,
        "missing": 0, "message": f"Export Study[uid={small_study.study_uid}] to STORESCP - completed:6",
        # --json also explains failures (docs/reference/cli.md): none here
        "remaining": 0, "error": None, "failed_instances": [], "failed_instances_omitted": 0,
    }]
    assert sorted(store_scp.sop_instance_uids()) == sorted(small_study.sop_instance_uids)
    # one series only
    store_scp.clear()
    series = small_study.series_uids[0]
    ok("export", "STORESCP", "--study", small_study.study_uid, "--series", series, "--now", "--config", str(config),
       "--source", source, cwd=tmp_path)
    assert store_scp.count == 3
    # a study that is not there: WARNING "Could not find", exit 1
    missing = run_cli("export", "STORESCP", "--study", "1.2.3.4", "--now", "--config", str(config), "--source",
                      source, cwd=tmp_path)
    assert missing.returncode == 1
    assert "WARNING" in missing.stdout and "Could not find" in missing.stdout


@pytest.mark.parametrize("queue", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_export_queued_then_run_then_every_queue_command(
    tmp_path: Path, store_scp: Any, small_study: Any, queue: str, request: pytest.FixtureRequest
) -> None:
    from dcm_exporter.sample import generate_study

    config = _config_for(store_scp.port, tmp_path)
    folder = tmp_path / "dicom"
    studies = [generate_study(folder, series=1, instances_per_series=2) for _ in range(3)]
    url = request.getfixturevalue("pg_database").url if queue == "postgresql" else f"sqlite:{tmp_path / 'q.sqlite'}"
    q = ("--queue", url)
    c = ("--config", str(config))
    queued = ok_json("export", "STORESCP", "--all-studies", "--batch-id", "B1", *c, *q, "--source", str(folder),
                     cwd=tmp_path)
    assert sorted(t["study_uid"] for t in queued) == sorted(s.study_uid for s in studies)
    assert {t["status"] for t in queued} == {"SCHEDULED"}
    later = ok_json("export", "STORESCP", "--study", small_study.study_uid, "--at", "now+2h", "--batch-id", "B2",
                    *c, *q, cwd=tmp_path)
    assert len(later) == 1

    assert ok_json("queue", "count", *q, cwd=tmp_path) == {"count": 4}
    run = run_cli("run", "--until-idle", *c, *q, "--source", str(folder), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(": COMPLETED Export Study[uid=") == 3
    assert store_scp.count == 6

    tasks = ok_json("queue", "list", *q, "--status", "completed", cwd=tmp_path)
    assert len(tasks) == 3 and all(t["number_of_instances"] == 2 for t in tasks)
    modalities = {s.study_uid: list(s.modalities) for s in studies}
    assert all(t["modalities"] == modalities[t["study_uid"]] for t in tasks)  # recorded from the instances
    table = ok("queue", "list", *q, "--batch-id", "B2", cwd=tmp_path)
    assert table.splitlines()[0].split()[:4] == ["TASK_ID", "EXPORTER_ID", "ENTITY", "STATUS"]
    assert "SCHEDULED" in table.splitlines()[1]
    rows = list(csv.DictReader(io.StringIO(ok("queue", "list", *q, "--format", "csv", cwd=tmp_path))))
    assert len(rows) == 4 and "outcome_message" in rows[0]
    paged = ok_json("queue", "list", *q, "--order-by=-task_id", "--limit", "2", cwd=tmp_path)
    assert [t["task_id"] for t in paged] == sorted((int(r["task_id"]) for r in rows), reverse=True)[:2]
    assert ok_json("queue", "list", *q, "--order-by", "task_id", "--desc", "--limit", "2", cwd=tmp_path) == paged

    batches = {b["batch_id"]: b for b in ok_json("queue", "batches", *q, cwd=tmp_path)}
    assert batches["B1"]["completed"] == 3 and batches["B2"]["scheduled"] == 1

    waiting = tasks_with(q, tmp_path, "--batch-id", "B2")[0]["task_id"]
    refused = run_cli("queue", "cancel", *q, cwd=tmp_path)
    assert refused.returncode == 2 and "--all" in refused.stderr
    assert ok_json("queue", "cancel", str(waiting), *q, cwd=tmp_path) == {"canceled": [waiting], "count": 1}
    assert tasks_with(q, tmp_path, "--batch-id", "B2")[0]["status"] == "CANCELED"
    assert ok_json("queue", "reschedule", "--batch-id", "B2", *q, cwd=tmp_path)["rescheduled"] == [waiting]
    assert tasks_with(q, tmp_path, "--batch-id", "B2")[0]["status"] == "SCHEDULED"
    moved = run_cli("queue", "reschedule", str(waiting), "--to-exporter", "NOPE", *c, *q, cwd=tmp_path)
    assert moved.returncode == 2 and "NOPE" in moved.stderr
    assert ok_json("queue", "purge", *c, *q, cwd=tmp_path) == {"purged": 0}  # no purge delays configured
    assert ok_json("queue", "delete", "--status", "COMPLETED", *q, cwd=tmp_path)["count"] == 3
    assert ok_json("queue", "count", *q, cwd=tmp_path) == {"count": 1}


def tasks_with(q: tuple[str, ...], cwd: Path, *filters: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = ok_json("queue", "list", *q, *filters, cwd=cwd)
    return result


def test_storescp_command_receives_an_export(tmp_path: Path, small_study: Any) -> None:
    received = tmp_path / "received"
    scp = subprocess.Popen(
        [sys.executable, "-m", "dcm_exporter.cli", "storescp", "--port", "0", "--output-dir", str(received),
         "--exit-after", "6"],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert scp.stdout is not None
        first = scp.stdout.readline()
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", first).group(1))  # type: ignore[union-attr]
        config = _config_for(port, tmp_path)
        ok("export", "STORESCP", "--study", small_study.study_uid, "--now", "--config", str(config), "--source",
           str(small_study.directory), cwd=tmp_path)
        out, err = scp.communicate(timeout=30)
    finally:
        if scp.poll() is None:
            scp.kill()
    assert scp.returncode == 0
    assert "received 6 object(s)" in err
    assert sorted(p.stem for p in received.glob("*.dcm")) == sorted(small_study.sop_instance_uids)
    assert all(f"DCM4CHEE -> STORESCP: {uid}" in first + out for uid in small_study.sop_instance_uids)


# --- schedules ------------------------------------------------------------------------------------------------


def test_schedule_check_and_next(tmp_path: Path, config_file: Path) -> None:
    inside = run_cli("schedule", "check", "hour=9-17 dayOfWeek=1-5", "--at", "2025-01-06T10:30",
                     "--tz", "Europe/Vienna", "--json", cwd=tmp_path)
    assert inside.returncode == 0
    data = json.loads(inside.stdout)
    assert data["inside"] is True and data["window_closes"] == "2025-01-06T18:00:00+01:00"
    outside = run_cli("schedule", "check", "hour=9-17 dayOfWeek=1-5", "--at", "2025-01-04T10:00",
                      "--tz", "Europe/Vienna", cwd=tmp_path)
    assert outside.returncode == 1
    assert "next window opens at 2025-01-06T09:00:00+01:00" in outside.stdout
    # the upstream example: two schedules OR-ed
    nxt = ok_json("schedule", "next", "hour=18-6 dayOfWeek=*", "hour=* dayOfWeek=0,6", "--at",
                  "2015-10-08T10:00", "--tz", "Europe/Vienna", cwd=tmp_path)
    assert nxt["windows"][0]["opens"] == "2015-10-08T18:00:00+02:00"
    always = ok_json("schedule", "check", "--exporter", "STORESCP", "--config", str(config_file), cwd=tmp_path)
    assert always["inside"] is True and always["schedules"] == ["(always)"]
    windows = ok("schedule", "next", "hour=22", "--at", "2025-03-01T12:00", "--tz", "UTC", "--count", "2",
                 cwd=tmp_path)
    assert windows.split() == ["OPENS", "CLOSES", "2025-03-01T22:00:00+00:00", "2025-03-01T23:00:00+00:00",
                               "2025-03-02T22:00:00+00:00", "2025-03-02T23:00:00+00:00"]


# --- LDAP ------------------------------------------------------------------------------------------------------


def test_config_push_pull_and_exporter_create_in_ldap(slapd: Any, config_file: Path, tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text(slapd.password + "\n")
    auth = ("--bind-dn", slapd.bind_dn, "--password-file", str(password))
    ok("config", "convert", str(config_file), slapd.url, *auth, cwd=tmp_path)
    assert slapd.count("(objectClass=dcmExporter)") == 1
    ldap = ("--ldap", slapd.url, *auth)
    ok("exporter", "create", *ldap, "--no-input", "--id", "SECOND", "--uri", "noop:nothing", cwd=tmp_path)
    assert slapd.count("(dcmExporterID=SECOND)") == 1
    pulled = tmp_path / "pulled.ldif"
    ok("config", "convert", slapd.url, str(pulled), *auth, cwd=tmp_path)
    assert set(ldif.load(pulled).exporters) == {"STORESCP", "SECOND"}
    env = cli_env(DCM_EXPORTER_LDAP_URL=slapd.url, DCM_EXPORTER_LDAP_BIND_DN=slapd.bind_dn,
                  DCM_EXPORTER_LDAP_PASSWORD=slapd.password)
    listed = json.loads(ok("exporter", "list", "--json", cwd=tmp_path, env=env))
    assert [e["exporter_id"] for e in listed] == ["STORESCP", "SECOND"]
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password")
    refused = run_cli("exporter", "list", "--ldap", slapd.url, "--bind-dn", slapd.bind_dn, "--password-file",
                      str(wrong), cwd=tmp_path)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr and "not-the-password" not in refused.stderr


def test_ldap_over_tls_with_a_ca_file_and_starttls(slapd_ldaps: Any, config_file: Path, tmp_path: Path) -> None:
    """ldaps:// and StartTLS, verified against the throwaway CA; without it, a clear refusal."""
    password = tmp_path / "pw"
    password.write_text(slapd_ldaps.password + "\n")
    auth = ("--bind-dn", slapd_ldaps.bind_dn, "--password-file", str(password))
    ca = ("--ldap-ca-file", str(slapd_ldaps.ca_file))
    ok("config", "convert", str(config_file), slapd_ldaps.ldaps_url, *auth, *ca, cwd=tmp_path)
    over_ldaps = json.loads(ok("exporter", "list", "--json", "--ldap", slapd_ldaps.ldaps_url, *auth, *ca,
                               cwd=tmp_path))
    assert [e["exporter_id"] for e in over_ldaps] == ["STORESCP"]
    # StartTLS on the plain port, the CA from the environment
    env = cli_env(DCM_EXPORTER_LDAP_CA_FILE=str(slapd_ldaps.ca_file), DCM_EXPORTER_LDAP_START_TLS="1")
    over_starttls = json.loads(ok("exporter", "list", "--json", "--ldap", slapd_ldaps.url, *auth, cwd=tmp_path,
                                  env=env))
    assert over_starttls == over_ldaps
    # the system's CAs do not know the throwaway CA: refused, clearly
    refused = run_cli("exporter", "list", "--ldap", slapd_ldaps.ldaps_url, *auth, cwd=tmp_path)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr and "certificate" in refused.stderr.lower(), refused.stderr
    both = run_cli("exporter", "list", "--ldap", slapd_ldaps.ldaps_url, "--ldap-start-tls", *auth, *ca,
                   cwd=tmp_path)
    assert both.returncode != 0 and "start_tls with an ldaps:// URL" in both.stderr, both.stderr
    missing = run_cli("exporter", "list", "--ldap", slapd_ldaps.url, "--ldap-ca-file", str(tmp_path / "nope.pem"),
                      *auth, cwd=tmp_path)
    assert missing.returncode != 0 and "does not exist" in missing.stderr, missing.stderr
