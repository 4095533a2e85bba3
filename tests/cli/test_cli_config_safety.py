"""Configuration changes from the command line are safe and reviewable (issue 17): the CLI as a subprocess."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest
from _cli import run_cli


@pytest.fixture
def default_config(upstream_dir: Path, tmp_path: Path) -> Path:
    source = upstream_dir / "ldap" / "config" / "default-config.ldif"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    target = tmp_path / "default-config.ldif"
    target.write_text("# our archive: keep this comment\n\n" + source.read_text(encoding="utf-8"),
                      encoding="utf-8")
    return target


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
