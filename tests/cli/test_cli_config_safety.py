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
