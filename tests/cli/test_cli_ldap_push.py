"""``dcm-exporter config convert FILE ldap://...`` into a server that has only the base entry.

Found in acceptance testing: pushing upstream ``default-config.ldif`` (which, like most site LDIFs, lacks the
configuration root entries of ``init-config.ldif``) printed "wrote 6 device(s) ... (1 LDAP operation(s))" and
exited 0 although the server refused the first entry and nothing was written; pushing again would have
deleted the root entries. Now the roots are created as ``init-config.ldif`` does and kept, and a refused
entry is an error that names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _cli import ok, run_cli

from dcm_exporter.cli._demo import demo_configuration
from dcm_exporter.codecs import ldif
from dcm_exporter.models import Configuration

pytestmark = pytest.mark.slapd

ROOTS = ("dicomConfigurationRoot", "dicomDevicesRoot", "dicomUniqueAETitlesRegistryRoot",
         "hl7UniqueApplicationNamesRegistryRoot", "dcmUniqueWebAppNamesRegistryRoot")


def auth(server: Any, tmp_path: Path) -> tuple[str, ...]:
    password = tmp_path / "pw"
    password.write_text(server.password + "\n")
    return ("--bind-dn", server.bind_dn, "--password-file", str(password))


def devices_only(tmp_path: Path) -> Path:
    """The demo configuration without the root and registry entries (as a site LDIF often is)."""
    path = tmp_path / "devices.ldif"
    path.write_text(ldif.dumps(Configuration(devices=demo_configuration().devices)))
    assert "cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org\nobjectClass" not in path.read_text()
    return path


def test_push_into_an_empty_server_creates_the_roots_and_a_second_push_changes_nothing(
    slapd_factory: Any, tmp_path: Path
) -> None:
    server = slapd_factory(schema="compact", content="base")
    a = auth(server, tmp_path)
    first = ok("config", "convert", str(devices_only(tmp_path)), server.url, *a, cwd=tmp_path)
    assert "wrote 2 device(s)" in first and " 0 deleted" in first
    for object_class in ROOTS:
        assert server.count(f"(objectClass={object_class})") == 1, object_class
    assert server.count("(objectClass=dcmExporter)") == 1
    assert server.count("(objectClass=dicomNetworkAE)") == 2

    again = ok("config", "convert", str(devices_only(tmp_path)), server.url, *a, cwd=tmp_path)
    assert "0 entr(y/ies) added, 0 modified, 0 deleted" in again
    for object_class in ROOTS:
        assert server.count(f"(objectClass={object_class})") == 1, object_class
    listed = ok("exporter", "list", "--ldap", server.url, *a, cwd=tmp_path)
    assert "STORESCP" in listed


def test_an_entry_the_server_refuses_is_an_error_that_names_it(slapd_factory: Any, tmp_path: Path) -> None:
    server = slapd_factory(schema="compact", content="base")
    text = devices_only(tmp_path).read_text().replace(
        "dcmExporterID: STORESCP\n", "dcmExporterID: STORESCP\ndcmNoSuchAttribute: 1\n"
    )
    bad = tmp_path / "bad.ldif"
    bad.write_text(text)
    result = run_cli("config", "convert", str(bad), server.url, *auth(server, tmp_path), cwd=tmp_path)
    assert result.returncode == 1, result.stdout
    assert "wrote" not in result.stdout
    assert "refused the configuration" in result.stderr
    assert "dcmExporterID=STORESCP,dicomDeviceName=dcm-exporter-demo" in result.stderr
    assert "Traceback" not in result.stderr


def test_upstream_default_config_into_a_base_only_server(
    slapd_factory: Any, upstream_dir: Path, tmp_path: Path
) -> None:
    server = slapd_factory(schema="upstream", content="base")
    default = upstream_dir / "ldap" / "config" / "default-config.ldif"
    a = auth(server, tmp_path)
    out = ok("config", "convert", str(default), server.url, *a, cwd=tmp_path)
    assert "wrote 6 device(s)" in out
    assert server.count("(objectClass=dicomDevice)") == 6
    assert server.count("(objectClass=dicomUniqueAETitle)") >= 10
    pulled = tmp_path / "pulled.ldif"
    ok("config", "convert", server.url, str(pulled), *a, cwd=tmp_path)
    assert ldif.load(pulled).devices == ldif.load(default).devices
