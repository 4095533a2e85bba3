"""Configuration changes from the command line are safe and reviewable (issue 17): the CLI as a subprocess."""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest
from _cli import cli_env, run_cli

from dcm_exporter.cli._demo import demo_configuration
from dcm_exporter.codecs import ldif


@pytest.fixture
def default_config(upstream_dir: Path, tmp_path: Path) -> Path:
    source = upstream_dir / "ldap" / "config" / "default-config.ldif"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    target = tmp_path / "default-config.ldif"
    target.write_text("# our archive: keep this comment\n\n" + source.read_text(encoding="utf-8"),
                      encoding="utf-8")
    return target


def spawn(*args: str, cwd: Path) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, ["-m", "dcm_exporter.cli", *args], cwd=str(cwd), env=cli_env(),
                         encoding="utf-8", timeout=30, dimensions=(50, 200))


def _diff(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_exporter_create_on_default_config_adds_only_its_entry(default_config: Path, tmp_path: Path) -> None:
    before = default_config.read_text(encoding="utf-8")
    result = run_cli("exporter", "create", "--no-input", "--id", "NEWPACS", "--uri", "dicom:STORESCP",
                     "--queue-name", "Export", "--ae-title", "DCM4CHEE", "--config", str(default_config),
                     cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    changed = _diff(before, default_config.read_text(encoding="utf-8"))
    assert changed and all(line.startswith("+") for line in changed), changed
    assert sum(line.startswith("+dn: ") for line in changed) == 1
    assert not list(tmp_path.glob("*.orig"))
    # and deleting it again gives the file back, byte for byte
    result = run_cli("exporter", "delete", "NEWPACS", "--config", str(default_config), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert default_config.read_text(encoding="utf-8") == before


def test_update_changes_only_the_changed_lines(default_config: Path, tmp_path: Path) -> None:
    created = run_cli("exporter", "create", "--no-input", "--id", "NEWPACS", "--uri", "dicom:STORESCP",
                      "--queue-name", "Export", "--config", str(default_config), cwd=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    before = default_config.read_text(encoding="utf-8")
    result = run_cli("exporter", "update", "NEWPACS", "--description", "changed by hand",
                     "--config", str(default_config), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    after = default_config.read_text(encoding="utf-8").splitlines()
    after.remove("dicomDescription: changed by hand")
    assert after == before.splitlines()
    listed = json.loads(run_cli("exporter", "list", "--json", "--config", str(default_config),
                                cwd=tmp_path).stdout)
    assert [e["description"] for e in listed if e["exporter_id"] == "NEWPACS"] == ["changed by hand"]


# --- pushing to LDAP: the plan first, confirmation, --dry-run, --yes -----------------------------------------


def _auth(server: Any, tmp_path: Path) -> tuple[str, ...]:
    password = tmp_path / "pw"
    password.write_text(server.password + "\n")
    return ("--bind-dn", server.bind_dn, "--password-file", str(password))


def _demo_files(tmp_path: Path) -> tuple[Path, Path]:
    """The demo configuration, and the same without its remote AE's device (a push of it deletes entries)."""
    configuration = demo_configuration()
    full = tmp_path / "full.ldif"
    full.write_text(ldif.dumps(configuration))
    smaller = tmp_path / "smaller.ldif"
    remote = next(d.device_name for d in configuration.devices if d.device_name != "dcm-exporter-demo")
    smaller.write_text(ldif.dumps(configuration.remove_device(remote)))
    return full, smaller


@pytest.mark.slapd
def test_a_push_that_deletes_prints_the_plan_and_needs_yes_without_a_terminal(
    slapd_factory: Any, tmp_path: Path
) -> None:
    server = slapd_factory(schema="compact", content="base")
    a = _auth(server, tmp_path)
    full, smaller = _demo_files(tmp_path)
    first = run_cli("config", "convert", str(full), server.url, *a, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr  # a fresh tree: only additions, no question
    assert "to add, 0 to modify, 0 to delete" in first.stdout
    devices = server.count("(objectClass=dicomDevice)")

    dry = run_cli("config", "convert", str(smaller), server.url, *a, "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    deletes = [line.split(None, 1)[1] for line in dry.stdout.splitlines() if line.startswith("  delete ")]
    assert deletes and all("cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org" in dn or "Registry" in dn
                           for dn in deletes), dry.stdout
    assert "dry run: nothing written" in dry.stdout
    assert server.count("(objectClass=dicomDevice)") == devices

    refused = run_cli("config", "convert", str(smaller), server.url, *a, cwd=tmp_path)
    assert refused.returncode != 0
    assert "  delete " in refused.stdout and "give --yes" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert server.count("(objectClass=dicomDevice)") == devices

    applied = run_cli("config", "convert", str(smaller), server.url, *a, "--yes", cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f" {len(deletes)} deleted" in applied.stdout
    assert server.count("(objectClass=dicomDevice)") == devices - 1


@pytest.mark.slapd
def test_a_push_that_deletes_asks_on_a_terminal(slapd_factory: Any, tmp_path: Path) -> None:
    server = slapd_factory(schema="compact", content="base")
    a = _auth(server, tmp_path)
    full, smaller = _demo_files(tmp_path)
    assert run_cli("config", "convert", str(full), server.url, *a, cwd=tmp_path).returncode == 0
    devices = server.count("(objectClass=dicomDevice)")

    child = spawn("config", "convert", str(smaller), server.url, *a, cwd=tmp_path)
    child.expect_exact("to delete")
    child.expect_exact("  delete ")
    child.expect_exact("? [y/N] ")
    child.sendline("n")
    child.expect_exact("nothing written")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus != 0
    assert server.count("(objectClass=dicomDevice)") == devices

    child = spawn("config", "convert", str(smaller), server.url, *a, cwd=tmp_path)
    child.expect_exact("? [y/N] ")
    child.sendline("y")
    child.expect_exact("deleted")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert server.count("(objectClass=dicomDevice)") == devices - 1


@pytest.mark.slapd
@pytest.mark.parametrize("command", [
    ("exporter", "delete", "STORESCP", "--force"),
    ("remote-ae", "remove", "STORESCP", "--force"),
    ("queue", "remove", "Export1", "--force"),
])
def test_a_removal_in_ldap_prints_the_plan_and_needs_yes_without_a_terminal(
    slapd_factory: Any, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """Any command that deletes directory entries shows them first and is confirmed, as a push is."""
    server = slapd_factory(schema="compact", content="base")
    a = _auth(server, tmp_path)
    full, _ = _demo_files(tmp_path)
    assert run_cli("config", "convert", str(full), server.url, *a, cwd=tmp_path).returncode == 0
    ldap = ("--ldap", server.url, *a)
    before = server.count("(objectClass=*)")

    dry = run_cli(*command, *ldap, "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    deletes = [line.split(None, 1)[1] for line in dry.stdout.splitlines() if line.startswith("  delete ")]
    assert deletes and "dry run: nothing written" in dry.stdout, dry.stdout
    assert all(dn.endswith("cn=DICOM Configuration,dc=dcm4che,dc=org") for dn in deletes), deletes
    assert server.count("(objectClass=*)") == before

    refused = run_cli(*command, *ldap, cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert [line for line in refused.stdout.splitlines() if line.startswith("  delete ")] == [
        f"  delete {dn}" for dn in deletes]
    assert refused.stderr.startswith("error: not changing LDAP ") and "give --yes" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert server.count("(objectClass=*)") == before

    applied = run_cli(*command, *ldap, "--yes", cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert server.count("(objectClass=*)") == before - len(deletes)


def test_a_removal_with_dry_run_leaves_a_file_alone(demo_with_rule: Path, tmp_path: Path) -> None:
    before = demo_with_rule.read_bytes()
    dry = run_cli("exporter", "delete", "STORESCP", "--force", "--dry-run", "--config", str(demo_with_rule),
                  cwd=tmp_path)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "  delete dcmExporterID=STORESCP,dicomDeviceName=dcm-exporter-demo," in dry.stdout
    assert "dry run: nothing written" in dry.stdout
    assert demo_with_rule.read_bytes() == before


@pytest.mark.slapd
def test_a_removal_in_ldap_asks_on_a_terminal(slapd_factory: Any, tmp_path: Path) -> None:
    server = slapd_factory(schema="compact", content="base")
    a = _auth(server, tmp_path)
    full, _ = _demo_files(tmp_path)
    assert run_cli("config", "convert", str(full), server.url, *a, cwd=tmp_path).returncode == 0
    ldap = ("--ldap", server.url, *a)
    assert server.count("(dcmExporterID=STORESCP)") == 1

    child = spawn("exporter", "delete", "STORESCP", *ldap, cwd=tmp_path)
    child.expect_exact("  delete dcmExporterID=STORESCP,dicomDeviceName=dcm-exporter-demo,")
    child.expect_exact("? [y/N] ")
    child.sendline("n")
    child.expect_exact("nothing written")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert server.count("(dcmExporterID=STORESCP)") == 1

    child = spawn("exporter", "delete", "STORESCP", *ldap, cwd=tmp_path)
    child.expect_exact("? [y/N] ")
    child.sendline("y")
    child.expect_exact("exporter STORESCP deleted")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert server.count("(dcmExporterID=STORESCP)") == 0


# --- removals refused while something uses what goes ---------------------------------------------------------


@pytest.fixture
def demo_with_rule(tmp_path: Path) -> Path:
    """The demo configuration with an export rule naming STORESCP."""
    import attrs

    from dcm_exporter.models import Entity, ExportRule

    configuration = demo_configuration()
    device = configuration.device("dcm-exporter-demo")
    rule = ExportRule(name="Forward CT", entity=Entity.SERIES, exporter_ids=("STORESCP",),
                      conditions=("Modality=CT",))
    path = tmp_path / "config.ldif"
    path.write_text(ldif.dumps(configuration.replace_device(attrs.evolve(device, export_rules=(rule,)))))
    return path


def test_exporter_delete_is_refused_while_a_rule_names_it(demo_with_rule: Path, tmp_path: Path) -> None:
    c = ("--config", str(demo_with_rule))
    before = demo_with_rule.read_text()
    refused = run_cli("exporter", "delete", "STORESCP", *c, cwd=tmp_path)
    assert refused.returncode != 0
    assert "named by 1 export rule(s): 'Forward CT' (device dcm-exporter-demo)" in refused.stderr
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert demo_with_rule.read_text() == before
    forced = run_cli("exporter", "delete", "STORESCP", "--force", *c, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "still name exporter STORESCP" in forced.stderr
    assert "STORESCP" not in ldif.load(demo_with_rule).exporters


def test_remote_ae_remove_is_refused_while_an_exporter_sends_to_it(demo_with_rule: Path, tmp_path: Path) -> None:
    c = ("--config", str(demo_with_rule))
    typo = run_cli("remote-ae", "remove", "storescp", *c, cwd=tmp_path)
    assert typo.returncode != 0 and "Unknown AE: storescp (did you mean STORESCP?)" in typo.stderr
    refused = run_cli("remote-ae", "remove", "STORESCP", *c, cwd=tmp_path)
    assert refused.returncode != 0
    assert "AE STORESCP is used by exporter(s) STORESCP (destination)" in refused.stderr
    added = run_cli("remote-ae", "add", "UNUSED", "--host", "127.0.0.1", "--port", "11119", *c, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    with_unused = demo_with_rule.read_text()
    assert "UNUSED" in with_unused
    removed = run_cli("remote-ae", "remove", "UNUSED", *c, cwd=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert "device unused held nothing else and was removed too" in removed.stdout
    after = ldif.load(demo_with_rule)
    assert not after.has_device("unused") and "UNUSED" not in demo_with_rule.read_text()


def test_queue_add_and_remove_from_the_command_line(demo_with_rule: Path, tmp_path: Path) -> None:
    c = ("--config", str(demo_with_rule))
    added = run_cli("queue", "add", "Nightly", "--max-retries", "5", "--retry-delay", "PT30S", *c, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    queue = ldif.load(demo_with_rule).device("dcm-exporter-demo").queue("Nightly")
    assert queue is not None and queue.max_retries == 5 and queue.retry_delay.total_seconds() == 30
    again = run_cli("queue", "add", "Nightly", *c, cwd=tmp_path)
    assert again.returncode != 0 and "exists already" in again.stderr

    # an exporter can now name it
    moved = run_cli("exporter", "update", "STORESCP", "--queue-name", "Nightly", *c, cwd=tmp_path)
    assert moved.returncode == 0, moved.stderr
    refused = run_cli("queue", "remove", "Nightly", *c, cwd=tmp_path)
    assert refused.returncode != 0 and "runs the tasks of exporter(s) STORESCP" in refused.stderr
    typo = run_cli("queue", "remove", "nightly", *c, cwd=tmp_path)
    assert typo.returncode != 0 and "Unknown queue: nightly (did you mean Nightly?)" in typo.stderr
    back = run_cli("exporter", "update", "STORESCP", "--queue-name", "Export1", *c, cwd=tmp_path)
    assert back.returncode == 0, back.stderr
    removed = run_cli("queue", "remove", "Nightly", *c, cwd=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert ldif.load(demo_with_rule).device("dcm-exporter-demo").queue("Nightly") is None


def test_webapp_remove_is_refused_while_an_exporter_uses_it(demo_with_rule: Path, tmp_path: Path) -> None:
    c = ("--config", str(demo_with_rule))
    assert run_cli("webapp", "add", "ORTHANC", "--url", "http://127.0.0.1:8042/dicom-web", *c,
                   cwd=tmp_path).returncode == 0
    assert run_cli("exporter", "create", "--no-input", "--id", "TO_ORTHANC", "--uri", "stow:ORTHANC", *c,
                   cwd=tmp_path).returncode == 0
    refused = run_cli("webapp", "remove", "ORTHANC", *c, cwd=tmp_path)
    assert refused.returncode != 0 and "destination of exporter(s) TO_ORTHANC" in refused.stderr
    typo = run_cli("webapp", "remove", "orthanc", *c, cwd=tmp_path)
    assert typo.returncode != 0 and "(did you mean ORTHANC?)" in typo.stderr


# --- did you mean, and --no-input takes the wizard's defaults ------------------------------------------------


def test_unknown_names_get_a_did_you_mean(demo_with_rule: Path, tmp_path: Path) -> None:
    c = ("--config", str(demo_with_rule))
    shown = run_cli("exporter", "show", "storescp", *c, cwd=tmp_path)
    assert shown.returncode != 0 and "Unknown exporter: storescp (did you mean STORESCP?)" in shown.stderr
    created = run_cli("exporter", "create", "--no-input", "--id", "X", "--uri", "dicom:storescp", *c, cwd=tmp_path)
    assert created.returncode != 0 and "Unknown AE: storescp (did you mean STORESCP?)" in created.stderr
    text = demo_with_rule.read_text().replace("dcmURI: dicom:STORESCP", "dcmURI: dicom:storescp")
    (tmp_path / "typo.ldif").write_text(text)
    validated = run_cli("config", "validate", str(tmp_path / "typo.ldif"), cwd=tmp_path)
    assert validated.returncode == 1 and "Unknown AE: storescp (did you mean STORESCP?)" in validated.stdout


def test_no_input_takes_the_wizards_default_queue(default_config: Path, tmp_path: Path) -> None:
    """Upstream's default configuration has eleven queues: the wizard offers Export, so does --no-input."""
    created = run_cli("exporter", "create", "--no-input", "--id", "NEWPACS", "--uri", "dicom:STORESCP",
                      "--config", str(default_config), cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert "written to" in created.stdout and "queue Export, calling AE DCM4CHEE" in created.stdout
    exporter = ldif.load(default_config).exporters["NEWPACS"]
    assert (exporter.queue_name, exporter.ae_title) == ("Export", "DCM4CHEE")


def test_no_input_without_any_queue_says_how_to_add_one(tmp_path: Path) -> None:
    import attrs

    configuration = demo_configuration()
    device = configuration.device("dcm-exporter-demo")
    path = tmp_path / "no-queue.ldif"
    path.write_text(ldif.dumps(configuration.replace_device(attrs.evolve(device, queues=(), exporters=()))))
    refused = run_cli("exporter", "create", "--no-input", "--id", "X", "--uri", "dicom:STORESCP",
                      "--device", "dcm-exporter-demo", "--config", str(path), cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "error: missing --queue-name (no terminal to ask on, or --no-input); device dcm-exporter-demo has no "
        "queue: add one with 'dcm-exporter queue add NAME'"]


def test_no_input_takes_the_wizards_default_ae_title(tmp_path: Path) -> None:
    import attrs

    from dcm_exporter.models import ApplicationEntity

    configuration = demo_configuration()
    device = configuration.device("dcm-exporter-demo")
    second = ApplicationEntity(ae_title="SECOND", connection_refs=device.application_entities[0].connection_refs)
    path = tmp_path / "two-aes.ldif"
    path.write_text(ldif.dumps(configuration.replace_device(
        attrs.evolve(device, application_entities=(*device.application_entities, second)))))
    created = run_cli("exporter", "create", "--no-input", "--id", "X", "--uri", "dicom:STORESCP",
                      "--config", str(path), cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    # the wizard offers the device's first AE: --no-input takes the same
    assert ldif.load(path).exporters["X"].ae_title == device.application_entities[0].ae_title


# --- an LDAP refusal in the server's words --------------------------------------------------------------------


@pytest.mark.slapd
def test_a_schema_refusal_is_reported_in_the_servers_words(
    slapd_factory: Any, upstream_dir: Path, tmp_path: Path
) -> None:
    server = slapd_factory(schema="upstream", content="base")
    a = _auth(server, tmp_path)
    demo = tmp_path / "demo.ldif"
    demo.write_text(ldif.dumps(demo_configuration()))
    result = run_cli("config", "convert", str(demo), server.url, *a, "--yes", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "is not in the server's schema" not in result.stderr
    assert "requires attribute" in result.stderr


# --- readers create nothing; one clear line when something is missing ------------------------------------------


@pytest.mark.parametrize("command", [("queue", "list"), ("queue", "count"), ("queue", "batches"),
                                     ("queue", "show", "1")])
def test_read_only_commands_create_no_sqlite_file(tmp_path: Path, command: tuple[str, ...]) -> None:
    target = tmp_path / "typo.sqlite"
    result = run_cli(*command, "--queue", f"sqlite:{target}", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"error: no task database at {target}: nothing has been queued there (check --queue)"]
    assert not target.exists() and not list(tmp_path.glob("typo.sqlite*"))


@pytest.mark.postgres
def test_read_only_commands_create_no_postgres_schema(pg_database: Any, tmp_path: Path) -> None:
    import psycopg

    def schemas() -> set[str]:
        with psycopg.connect(pg_database.dsn) as conn:
            return {row[0] for row in conn.execute("SELECT nspname FROM pg_namespace")}

    before = schemas()
    for command in (("queue", "list"), ("queue", "count"), ("queue", "batches")):
        result = run_cli(*command, "--queue", pg_database.url, cwd=tmp_path)
        assert result.returncode != 0, command
        assert "no task tables in schema 'dcm_exporter'" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert schemas() == before and "dcm_exporter" not in before
    # a writer creates it; the readers then read it
    from dcm_exporter.queue import open_store

    open_store(pg_database.url).close()
    assert "dcm_exporter" in schemas()
    counted = run_cli("queue", "count", "--queue", pg_database.url, cwd=tmp_path)
    assert counted.returncode == 0 and counted.stdout.strip() == "0", counted.stderr


def test_a_postgres_server_that_is_down_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_cli("queue", "list", "--queue", f"postgresql://postgres@127.0.0.1:{port}/x", cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: cannot connect to the task database postgresql://postgres@127.0.0.1:{port}/x: ")
    assert "Connection refused" in lines[0] and "WARNING" not in result.stderr


def test_unknown_queue_scheme_and_missing_password_file_are_one_line(tmp_path: Path) -> None:
    result = run_cli("queue", "list", "--queue", "mysql://x/y", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: unknown task store scheme 'mysql' in 'mysql://x/y': use sqlite:PATH, "
        "postgresql://USER@HOST/DB or memory:"]
    missing = tmp_path / "no-such-password"
    result = run_cli("exporter", "list", "--ldap", "ldap://127.0.0.1:1", "--bind-dn", "cn=admin",
                     "--password-file", str(missing), cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"error: password file {missing} does not exist (--password-file / DCM_EXPORTER_LDAP_PASSWORD_FILE)"]


# --- tables fit the terminal -----------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [60, 100])
def test_tables_fit_the_terminal_width(demo_with_rule: Path, tmp_path: Path, columns: int) -> None:
    c = ("--config", str(demo_with_rule))
    long = "a description long enough to push the table past any terminal width " * 3
    assert run_cli("exporter", "update", "STORESCP", "--description", long.strip(), *c,
                   cwd=tmp_path).returncode == 0
    child = pexpect.spawn(sys.executable, ["-m", "dcm_exporter.cli", "exporter", "list", *c], cwd=str(tmp_path),
                          env={**cli_env(), "COLUMNS": str(columns)}, encoding="utf-8", timeout=30,
                          dimensions=(50, columns))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    lines = [line for line in child.before.replace("\r", "").split("\n") if line]
    assert lines[0].startswith("EXPORTE") and any(line.startswith("STORESCP") for line in lines)
    assert max(len(line) for line in lines) <= columns, lines
    assert any(line.rstrip().endswith("\u2026") for line in lines[1:]), lines  # the cut is shown
    # a pipe gets whole rows (scripts, grep)
    piped = run_cli("exporter", "list", *c, cwd=tmp_path)
    assert long.strip() in piped.stdout
