"""Problems found by acceptance testing the command line as an archive engineer would, one test each.

Every command runs in a subprocess (``_cli.run_cli``), against real files, a real SQLite queue and the
in-process Store SCP or the ``dcm-exporter storescp`` command as the destination.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _cli import cli_env, ok, ok_json, run_cli

from dcm_exporter.cli._demo import demo_configuration, with_port
from dcm_exporter.codecs import ldif
from dcm_exporter.models import (
    ApplicationEntity,
    Configuration,
    Connection,
    Device,
    QueueDescriptor,
    WebApplication,
)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.ldif"
    path.write_text(ldif.dumps(demo_configuration()))
    return path


def queue_with_tasks(tmp_path: Path, config_file: Path, count: int) -> str:
    q = f"sqlite:{tmp_path / 'q.sqlite'}"
    studies = [a for i in range(count) for a in ("--study", f"1.2.826.0.1.3680043.2.1125.{i + 1}")]
    ok("export", "STORESCP", *studies, "--config", str(config_file), "--queue", q, cwd=tmp_path)
    return q


# --- output into a closed pipe ------------------------------------------------------------------------------


def test_a_reader_that_goes_away_is_no_error(tmp_path: Path, config_file: Path) -> None:
    # dcm-exporter queue list --json | head -c 100: used to print "error: [Errno 32] Broken pipe"
    q = queue_with_tasks(tmp_path, config_file, 400)  # far more than a pipe buffer of JSON
    proc = subprocess.Popen(
        [sys.executable, "-m", "dcm_exporter.cli", "queue", "list", "--json", "--queue", q],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(100).startswith(b"[")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141
    assert err == ""


# --- bad values on the command line -----------------------------------------------------------------------


def test_a_study_uid_that_is_no_uid_is_refused(tmp_path: Path, config_file: Path) -> None:
    for args in (["export", "STORESCP", "--study", "not a uid"],
                 ["export", "STORESCP", "--study", "1.2.3", "--series", "1.2.x"],
                 ["queue", "list", "--study", "1..2"]):
        result = run_cli(*args, "--config", str(config_file), "--queue", f"sqlite:{tmp_path / 'q.sqlite'}",
                         cwd=tmp_path)
        assert result.returncode == 2, args
        assert "not a DICOM UID" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "q.sqlite").exists() or "not a uid" not in ok(
        "queue", "list", "--queue", f"sqlite:{tmp_path / 'q.sqlite'}", cwd=tmp_path)
    # a UID with a leading zero (forbidden by PS3.5, found in real archives) is still exported
    ok("export", "STORESCP", "--study", "1.2.03.4", "--config", str(config_file), "--queue",
       f"sqlite:{tmp_path / 'q.sqlite'}", cwd=tmp_path)


def test_a_bad_time_names_the_value_and_the_accepted_forms(tmp_path: Path) -> None:
    result = run_cli("schedule", "check", "hour=1", "--at", "yesterday", cwd=tmp_path)
    assert result.returncode == 2
    assert "argument --at: not a time: 'yesterday'" in result.stderr
    assert "parse_time" not in result.stderr


def test_cancel_delete_reschedule_say_which_named_tasks_were_not_touched(tmp_path: Path, config_file: Path) -> None:
    q = queue_with_tasks(tmp_path, config_file, 2)
    first = ok("queue", "cancel", "1", "--queue", q, cwd=tmp_path)
    assert "canceled 1 task(s): 1" in first
    again = run_cli("queue", "cancel", "1", "999", "--queue", q, cwd=tmp_path)
    assert again.returncode == 1
    assert "canceled 0 task(s)" in again.stdout
    assert "task 1 not canceled: it is CANCELED" in again.stderr
    assert "no task 999 in " in again.stderr
    as_json = run_cli("queue", "delete", "2", "998", "--json", "--queue", q, cwd=tmp_path)
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert data["deleted"] == [2] and data["not_deleted"][0]["task_id"] == 998
    assert run_cli("queue", "reschedule", "997", "--queue", q, cwd=tmp_path).returncode == 1
    # filters that match nothing are no error: nothing was named
    assert run_cli("queue", "cancel", "--status", "FAILED", "--queue", q, cwd=tmp_path).returncode == 0


# --- configuration files ------------------------------------------------------------------------------------


def test_json_configuration_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"dicomDeviceName": \n')
    (tmp_path / "nameless.json").write_text('[{"dicomInstalled": true}]')
    for name in ("broken.json", "nameless.json"):
        result = run_cli("exporter", "list", "--config", name, cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.startswith(f"error: {name}: "), result.stderr
    folder = run_cli("exporter", "list", "--config", str(tmp_path), cwd=tmp_path)
    assert folder.returncode == 2 and "is a folder" in folder.stderr


def test_validate_fails_for_an_exporter_whose_scheme_has_no_transport(tmp_path: Path, config_file: Path) -> None:
    text = config_file.read_text() + (
        "\ndn: dcmExporterID=FTP,dicomDeviceName=dcm-exporter-demo,cn=Devices,cn=DICOM Configuration,"
        "dc=dcm4che,dc=org\nobjectClass: dcmExporter\ndcmExporterID: FTP\ndcmURI: ftp:somewhere\n"
        "dicomAETitle: DCM4CHEE\ndcmQueueName: Export1\n"
    )
    config_file.write_text(text)
    line = text.splitlines().index("objectClass: dcmExporter", text.splitlines().index("dcmExporterID: FTP") - 3)
    result = run_cli("config", "validate", str(config_file), cwd=tmp_path)
    assert result.returncode == 1  # its tasks cannot run: an error
    assert re.search(rf"config\.ldif:{line}\s+exporter FTP: no transport for the scheme of ftp:somewhere "
                     r"\(registered schemes: dicom:, [^)]*\bstow:[^)]*\)", result.stdout), result.stdout
    assert run_cli("config", "validate", str(config_file), "--strict", cwd=tmp_path).returncode == 1


def test_convert_to_json_warns_about_entries_json_cannot_hold(tmp_path: Path, config_file: Path) -> None:
    result = run_cli("config", "convert", str(config_file), "out.json", cwd=tmp_path)
    assert result.returncode == 0
    # the Unique AE Titles Registry entries have no place in device JSON
    assert re.search(r"warning: device JSON has no place for 2 of the \d+ LDAP entries "
                     r"\(e\.g\. dicomAETitle=\w+,cn=Unique AE Titles Registry", result.stderr), result.stderr
    back = run_cli("config", "convert", "out.json", "again.json", cwd=tmp_path)
    assert back.returncode == 0 and back.stderr == ""  # JSON to JSON loses nothing more


# --- exporters ------------------------------------------------------------------------------------------------


def _with_web_apps(config_file: Path) -> None:
    configuration = ldif.load(config_file)
    web = Device(
        device_name="pacs",
        connections=(Connection(name="http", hostname="127.0.0.1", port=8042, protocol="HTTP"),),
        web_applications=(
            WebApplication(name="PACS-STOW", service_path="/dicom-web", service_classes=("STOW_RS",),
                           connection_refs=("http",)),
            WebApplication(name="PACS-WADO", service_path="/wado", service_classes=("WADO_URI",),
                           connection_refs=("http",)),
        ),
    )
    config_file.write_text(ldif.dumps(configuration.add_device(web)))


def test_create_a_stow_exporter_by_url_or_by_web_application(tmp_path: Path, config_file: Path) -> None:
    _with_web_apps(config_file)
    base = ("exporter", "create", "--no-input", "--queue-name", "Export1", "--ae-title", "DCM4CHEE",
            "--config", str(config_file))
    # the URL form the STOW how-to documents used to be refused as an unknown web application
    ok(*base, "--id", "BY-URL", "--uri", "stow:http://127.0.0.1:8042/dicom-web", cwd=tmp_path)
    ok(*base, "--id", "BY-APP", "--uri", "stow:PACS-STOW", cwd=tmp_path)
    exporters = {e["exporter_id"]: e["uri"] for e in ok_json("exporter", "list", "--config", str(config_file),
                                                             cwd=tmp_path)}
    assert exporters["BY-URL"] == "stow:http://127.0.0.1:8042/dicom-web"
    assert exporters["BY-APP"] == "stow:PACS-STOW"

    wado = run_cli(*base, "--id", "W", "--uri", "stow:PACS-WADO", cwd=tmp_path)
    assert wado.returncode == 2
    assert "PACS-WADO does not offer the STOW_RS service class (it has: WADO_URI)" in wado.stderr
    unknown = run_cli(*base, "--id", "U", "--uri", "stow:NOPE", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "Unknown Web Application: NOPE (web applications offering STOW_RS: PACS-STOW;" in unknown.stderr
    ftp = run_cli(*base, "--id", "F", "--uri", "stow:ftp://host/x", cwd=tmp_path)
    assert ftp.returncode == 2 and "must be http:// or https://" in ftp.stderr


# --- remote AEs and the storescp command --------------------------------------------------------------------


def _archive_without_exporters(port: int) -> Configuration:
    archive = Device(device_name="dcm4chee-arc",
                     application_entities=(ApplicationEntity(ae_title="DCM4CHEE", connection_refs=()),),
                     queues=(QueueDescriptor(queue_name="Export1"),))
    remote = Device(device_name="storescp", connections=(Connection(name="dicom", hostname="127.0.0.1", port=port),),
                    application_entities=(ApplicationEntity(ae_title="STORESCP", connection_refs=("dicom",)),))
    return Configuration(devices=(archive, remote))


def test_verify_calls_as_the_archive_ae_when_there_is_no_exporter(tmp_path: Path, store_scp: Any) -> None:
    path = tmp_path / "arc.ldif"
    path.write_text(ldif.dumps(_archive_without_exporters(store_scp.port)))
    out = ok("remote-ae", "verify", "STORESCP", "--config", str(path), cwd=tmp_path)
    assert "(calling DCM4CHEE)" in out


def _start_storescp(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dcm_exporter.cli", "storescp", "--aet", "REAL", "--port", "0", "--output-dir",
         str(tmp_path / "received"), *extra],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    match = re.search(r"listening on 127\.0\.0\.1:(\d+)", first)
    assert match, first
    return proc, int(match.group(1))


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    return out


def test_storescp_rejects_a_wrong_called_ae_title(tmp_path: Path, small_study: Any, config_file: Path) -> None:
    proc, port = _start_storescp(tmp_path)
    try:
        wrong = tmp_path / "wrong.ldif"  # the exporter's destination STORESCP points at an SCP called REAL
        wrong.write_text(ldif.dumps(with_port(demo_configuration(), "STORESCP", port)))
        echo = run_cli("remote-ae", "verify", "STORESCP", "--config", str(wrong), cwd=tmp_path)
        assert echo.returncode == 1
        assert "rejected" in echo.stderr and "Called AE title not recognised" in echo.stderr
        q = f"sqlite:{tmp_path / 'q.sqlite'}"
        ok("export", "STORESCP", "--study", small_study.study_uid, "--config", str(wrong), "--queue", q,
           cwd=tmp_path)
        run = run_cli("run", "--until-idle", "--config", str(wrong), "--queue", q, "--source",
                      str(small_study.directory), cwd=tmp_path)
        assert run.returncode == 1
        (task,) = ok_json("queue", "list", "--queue", q, cwd=tmp_path)
        assert task["status"] == "SCHEDULED FOR RETRY"
        assert "Called AE title not recognised" in (task["outcome_message"] or "") + (task["error_message"] or "")
        assert not (tmp_path / "received").exists() or not any((tmp_path / "received").iterdir())
    finally:
        _stop(proc)


def test_storescp_any_called_aet_accepts_and_shows_the_called_title(tmp_path: Path, small_study: Any) -> None:
    proc, port = _start_storescp(tmp_path, "--any-called-aet")
    try:
        config = tmp_path / "c.ldif"
        config.write_text(ldif.dumps(with_port(demo_configuration(), "STORESCP", port)))
        ok("export", "STORESCP", "--study", small_study.study_uid, "--now", "--config", str(config), "--source",
           str(small_study.directory), cwd=tmp_path)
    finally:
        out = _stop(proc)
    # the line names the AE title the sender called, not the SCP's own
    assert all(f"DCM4CHEE -> STORESCP: {uid}" in out for uid in small_study.sop_instance_uids), out


def test_export_now_of_a_study_not_in_the_source_says_where_it_looked(tmp_path: Path, small_study: Any,
                                                                       store_scp: Any) -> None:
    config = tmp_path / "c.ldif"
    config.write_text(ldif.dumps(with_port(demo_configuration(), "STORESCP", store_scp.port)))
    result = run_cli("export", "STORESCP", "--study", "1.2.3.4", "--now", "--config", str(config), "--source",
                     str(small_study.directory), cwd=tmp_path)
    assert result.returncode == 1
    assert f"no instance of Study[uid=1.2.3.4] in the source folder {small_study.directory}" in result.stderr
    missing = run_cli("export", "STORESCP", "--all-studies", "--config", str(config), "--source",
                      str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 2 and "source folder" in missing.stderr and "does not exist" in missing.stderr


def test_an_exporter_shows_what_it_is_made_of_in_a_notebook(tmp_path: Path) -> None:
    from dcm_exporter import Exporter, FileSystemSource, SqliteTaskStore

    configuration = demo_configuration()
    exporter = Exporter(configuration, FileSystemSource(tmp_path), store=SqliteTaskStore(tmp_path / "q.sqlite"))
    with exporter:
        text = repr(exporter)
        html = exporter._repr_html_()
    assert text.startswith("<Exporter ") and "exporters=STORESCP" in text and "q.sqlite" in text
    assert "state=open" in text and "state=closed" in repr(exporter)
    assert "<table" in html and "STORESCP" in html


# --- the demo's closing hint ----------------------------------------------------------------------------------


@pytest.mark.parametrize("in_nox", [True, False])
def test_the_demo_names_a_command_the_user_can_type(tmp_path: Path, in_nox: bool) -> None:
    # after `nox -s demo` the command lives in .nox/demo/bin, which is on PATH only inside the session
    bin_dir = tmp_path / "venv-bin"
    bin_dir.mkdir()
    script = bin_dir / "dcm-exporter"
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom dcm_exporter.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    env = cli_env(PATH=f"{bin_dir}:/usr/bin:/bin")
    if in_nox:
        env["NOX_CURRENT_SESSION"] = "demo"
    result = subprocess.run([str(script), "demo", "--work-dir", str(tmp_path / "demo"), "--port", "0"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = str(script) if in_nox else "dcm-exporter"
    assert f"\n  {expected} queue list --queue sqlite:" in result.stdout, result.stdout


def test_writing_back_an_annotated_ldif_keeps_its_comments_and_lines(tmp_path: Path, config_file: Path) -> None:
    annotated = "# our archive: do not forward to the old PACS\n" + config_file.read_text()
    config_file.write_text(annotated)
    result = run_cli("remote-ae", "add", "NEWPACS", "--host", "127.0.0.1", "--port", "11112", "--config",
                     str(config_file), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = config_file.read_text()
    assert "NEWPACS" in written and written.startswith(annotated.rstrip("\n").split("\n\n")[0])
    # what was there is still there, line for line and in order: the new device's lines are only added
    old_lines = annotated.splitlines()
    new_lines = written.splitlines()
    it = iter(new_lines)
    assert all(line in it for line in old_lines)
    assert not (tmp_path / "config.ldif.orig").exists()
