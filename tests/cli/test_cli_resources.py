"""``webapp add|list|remove``, ``storage add|list|remove`` and ``config show`` listing both, in a subprocess.

Found in acceptance testing: there was no way to add the web application a ``stow:`` exporter sends to (the
tester hand-wrote LDIF for an Orthanc STOW-RS endpoint), nor a storage, and ``config show`` listed neither.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from _cli import ok, ok_json, run_cli

from dcm_exporter.cli._demo import demo_configuration
from dcm_exporter.codecs import ldif
from dcm_exporter.codecs.ldap_mapping import normalize_dn
from dcm_exporter.models import Configuration

WEB_REGISTRY = "cn=Unique Web Application Names Registry,cn=DICOM Configuration,dc=dcm4che,dc=org"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.ldif"
    path.write_text(ldif.dumps(demo_configuration()))
    return path


def _dns(configuration: Configuration) -> set[str]:
    return {normalize_dn(e.dn) for e in configuration.other_entries}


def test_webapp_add_list_use_and_remove(config_file: Path, tmp_path: Path) -> None:
    c = ("--config", str(config_file))
    before = ldif.load(config_file)
    out = ok("webapp", "add", "ORTHANC", "--url", "http://127.0.0.1:8042/dicom-web", "--property",
             "bearer-token=s3cret-token", *c, cwd=tmp_path)
    assert "web application ORTHANC (http://127.0.0.1:8042/dicom-web, STOW_RS; new device orthanc)" in out
    assert "s3cret" not in out

    # what was written: dcm4che's layout (a device, its HTTP connection, the web app, the registry entry)
    written = ldif.load(config_file)
    device = written.device("orthanc")
    assert [(x.name, x.hostname, x.port, x.protocol) for x in device.connections] == [
        ("http", "127.0.0.1", 8042, "HTTP")]
    web = written.web_application("ORTHANC")
    assert web.base_url == "http://127.0.0.1:8042/dicom-web"
    assert web.service_classes == ("STOW_RS",)
    assert dict(web.properties) == {"bearer-token": "s3cret-token"}
    assert normalize_dn(f"dcmWebAppName=ORTHANC,{WEB_REGISTRY}") in _dns(written)

    # listings mask the token unless asked
    rows = ok_json("webapp", "list", *c, cwd=tmp_path)
    assert rows == [{"name": "ORTHANC", "device": "orthanc", "url": "http://127.0.0.1:8042/dicom-web",
                     "service_classes": ["STOW_RS"], "properties": ["bearer-token=***"], "installed": True,
                     "exporters": [], "ae_title": None, "description": None}]
    shown = ok_json("webapp", "list", "--show-secrets", *c, cwd=tmp_path)
    assert shown[0]["properties"] == ["bearer-token=s3cret-token"]

    # an exporter can now send to it, and config show lists it with the exporter
    ok("exporter", "create", "--no-input", "--id", "TO_ORTHANC", "--uri", "stow:ORTHANC", *c, cwd=tmp_path)
    table = ok("config", "show", *c, cwd=tmp_path)
    assert re.search(r"^ORTHANC\s+orthanc\s+http://127\.0\.0\.1:8042/dicom-web\s+STOW_RS\s+bearer-token=\*\*\*"
                     r"\s+True\s+TO_ORTHANC$", table, re.M), table
    assert "s3cret" not in table

    # not removed while an exporter sends to it
    refused = run_cli("webapp", "remove", "ORTHANC", *c, cwd=tmp_path)
    assert refused.returncode == 2 and "destination of exporter(s) TO_ORTHANC" in refused.stderr
    ok("exporter", "delete", "TO_ORTHANC", *c, cwd=tmp_path)
    out = ok("webapp", "remove", "ORTHANC", *c, cwd=tmp_path)
    assert "device orthanc held nothing else and was removed too" in out
    after = ldif.load(config_file)
    assert after.devices == before.devices
    assert _dns(after) == _dns(before)
    assert ok_json("webapp", "list", *c, cwd=tmp_path) == []


def test_webapp_on_an_existing_device_shares_its_http_connection(config_file: Path, tmp_path: Path) -> None:
    c = ("--config", str(config_file))
    ok("webapp", "add", "ARC-RS", "--host", "arc.example", "--port", "8443", "--path", "dcm4chee-arc/aets/A/rs",
       "--tls", "--service-class", "STOW_RS,QIDO_RS", "--service-class", "wado_rs",
       "--device-name", "dcm-exporter-demo", *c, cwd=tmp_path)
    ok("webapp", "add", "ARC-WADO", "--url", "https://arc.example:8443/dcm4chee-arc/wado",
       "--service-class", "WADO_URI", "--device-name", "dcm-exporter-demo", *c, cwd=tmp_path)
    written = ldif.load(config_file)
    device = written.device("dcm-exporter-demo")
    https = [x for x in device.connections if x.protocol == "HTTP"]
    assert [(x.name, x.port, x.is_tls) for x in https] == [("https", 8443, True)]
    assert written.web_application("ARC-RS").base_url == "https://arc.example:8443/dcm4chee-arc/aets/A/rs"
    assert written.web_application("ARC-RS").service_classes == ("STOW_RS", "QIDO_RS", "WADO_RS")
    assert {normalize_dn(f"dcmWebAppName={n},{WEB_REGISTRY}") for n in ("ARC-RS", "ARC-WADO")} <= _dns(written)
    # removing one keeps the device (it holds the archive's AE, exporters, queues) and the other web app
    ok("webapp", "remove", "ARC-RS", *c, cwd=tmp_path)
    again = ldif.load(config_file)
    assert set(again.web_applications) == {"ARC-WADO"}
    assert normalize_dn(f"dcmWebAppName=ARC-RS,{WEB_REGISTRY}") not in _dns(again)
    assert again.device("dcm-exporter-demo").exporters == written.device("dcm-exporter-demo").exporters


@pytest.mark.parametrize(("flags", "message"), [
    (["--url", "http://user:pw@h:1/x"], "must not hold a user or password"),
    (["--url", "ftp://h/x"], "must be http:// or https://"),
    (["--url", "http://h:99999/x"], "--url 'http://h:99999/x'"),
    (["--url", "http://h/x", "--host", "h"], "not both"),
    (["--host", "h"], "give the endpoint"),
    (["--host", "h", "--path", "/x", "--port", "0"], "port must be 1..65535"),
    (["--url", "http://h/x", "--service-class", "STOW-RS"], "not a dcmWebServiceClass"),
    (["--url", "http://h/x", "--property", "novalue"], "a property is key=value"),
])
def test_webapp_add_rejects_bad_input(flags: list[str], message: str, config_file: Path, tmp_path: Path) -> None:
    before = config_file.read_text()
    result = run_cli("webapp", "add", "W", *flags, "--config", str(config_file), cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "user:pw" not in result.stderr  # a password in a URL is not echoed
    assert config_file.read_text() == before


def test_webapp_add_refuses_a_taken_name_and_remove_an_unknown_one(config_file: Path, tmp_path: Path) -> None:
    c = ("--config", str(config_file))
    ok("webapp", "add", "W", "--url", "http://h/x", *c, cwd=tmp_path)
    taken = run_cli("webapp", "add", "W", "--url", "http://other/x", *c, cwd=tmp_path)
    assert taken.returncode == 2 and "web application W exists already (device w)" in taken.stderr
    unknown = run_cli("webapp", "remove", "NOPE", *c, cwd=tmp_path)
    assert unknown.returncode == 2 and "Unknown Web Application: NOPE (web applications: W)" in unknown.stderr
    odd = run_cli("webapp", "add", "X", "--url", "http://h/x", "--service-class", "STOWRS", *c, cwd=tmp_path)
    assert odd.returncode == 0 and "STOWRS is not one dcm4che knows" in odd.stderr


def test_storage_add_list_use_and_remove(config_file: Path, tmp_path: Path) -> None:
    c = ("--config", str(config_file))
    folder = tmp_path / "fs2"
    out = ok("storage", "add", "fs2", "--uri", folder.as_uri() + "/", "--path-format",
             "{0020000D}/{00080018}.dcm", *c, cwd=tmp_path)
    assert "storage fs2" in out and "storage:fs2" in out
    ok("storage", "add", "fs3", "--uri", "file:///srv/fs3/", *c, cwd=tmp_path)
    written = ldif.load(config_file)
    assert written.storages["fs2"].storage_path_format == "{0020000D}/{00080018}.dcm"
    assert written.device("dcm-exporter-demo").storage("fs3") is not None
    rows = ok_json("storage", "list", *c, cwd=tmp_path)
    assert [(r["storage_id"], r["device"], r["path_format"]) for r in rows] == [
        ("fs2", "dcm-exporter-demo", "{0020000D}/{00080018}.dcm"),
        ("fs3", "dcm-exporter-demo", "{now,date,yyyy/MM/dd}/{0020000D,hash}/{0020000E,hash}/{00080018,hash}"),
    ]
    ok("exporter", "create", "--no-input", "--id", "TO_FS2", "--uri", "storage:fs2", *c, cwd=tmp_path)
    table = ok("config", "show", *c, cwd=tmp_path)
    assert re.search(r"^fs2\s+dcm-exporter-demo\s+file://\S+/fs2/\s+\{0020000D\}/\{00080018\}\.dcm\s+TO_FS2$",
                     table, re.M), table

    taken = run_cli("storage", "add", "fs2", "--uri", "file:///x/", *c, cwd=tmp_path)
    assert taken.returncode == 2 and "storage fs2 exists already" in taken.stderr
    bad = run_cli("storage", "add", "fs4", "--uri", "file:///x/", "--path-format", "{0020000D", *c, cwd=tmp_path)
    assert bad.returncode == 2 and "--path-format" in bad.stderr and "Traceback" not in bad.stderr
    not_url = run_cli("storage", "add", "fs4", "--uri", "relative/folder", *c, cwd=tmp_path)
    assert not_url.returncode == 2 and "is not a URL" in not_url.stderr
    remote = run_cli("storage", "add", "s3", "--uri", "s3://bucket/path", *c, cwd=tmp_path)
    assert remote.returncode == 0 and "writes only to file: URLs" in remote.stderr

    refused = run_cli("storage", "remove", "fs2", *c, cwd=tmp_path)
    assert refused.returncode == 2 and "destination of exporter(s) TO_FS2" in refused.stderr
    ok("storage", "remove", "fs3", *c, cwd=tmp_path)
    assert set(ldif.load(config_file).storages) == {"fs2", "s3"}
    unknown = run_cli("storage", "remove", "fs3", *c, cwd=tmp_path)
    assert unknown.returncode == 2 and "Unknown storage: fs3 (storages: fs2, s3)" in unknown.stderr


def test_storage_exporter_created_on_the_command_line_exports(config_file: Path, tmp_path: Path,
                                                               small_study: Any) -> None:
    c = ("--config", str(config_file))
    folder = tmp_path / "fs2"
    ok("storage", "add", "fs2", "--uri", folder.as_uri() + "/", "--path-format", "{00080018}.dcm", *c, cwd=tmp_path)
    ok("exporter", "create", "--no-input", "--id", "TO_FS2", "--uri", "storage:fs2", *c, cwd=tmp_path)
    rows = ok_json("export", "TO_FS2", "--study", small_study.study_uid, "--now", *c, "--source",
                   str(small_study.directory), cwd=tmp_path)
    assert rows[0]["status"] == "COMPLETED", rows
    assert sorted(p.stem for p in folder.glob("*.dcm")) == sorted(small_study.sop_instance_uids)


def test_stow_exporter_to_a_web_app_added_on_the_command_line(orthanc: Any, config_file: Path, tmp_path: Path,
                                                              small_study: Any) -> None:
    """The tester's case: an Orthanc STOW-RS endpoint, no hand-written LDIF."""
    c = ("--config", str(config_file))
    ok("webapp", "add", "ORTHANC", "--url", orthanc.dicomweb_url, *c, cwd=tmp_path)
    ok("exporter", "create", "--no-input", "--id", "TO_ORTHANC", "--uri", "stow:ORTHANC", *c, cwd=tmp_path)
    rows = ok_json("export", "TO_ORTHANC", "--study", small_study.study_uid, "--now", *c, "--source",
                   str(small_study.directory), cwd=tmp_path)
    assert rows[0]["status"] == "COMPLETED", rows
    assert len(orthanc.instances()) == len(small_study.sop_instance_uids)  # Orthanc ids, one per instance


def test_webapp_and_storage_in_ldap(slapd: Any, config_file: Path, tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text(slapd.password + "\n")
    auth = ("--bind-dn", slapd.bind_dn, "--password-file", str(password))
    ok("config", "convert", str(config_file), slapd.url, *auth, cwd=tmp_path)
    ldap = ("--ldap", slapd.url, *auth)

    ok("webapp", "add", "ORTHANC", "--url", "http://127.0.0.1:8042/dicom-web", "--property", "bearer-token=tok",
       *ldap, cwd=tmp_path)
    ok("storage", "add", "fs2", "--uri", "file:///srv/fs2/", *ldap, cwd=tmp_path)
    assert slapd.count("(objectClass=dcmWebApp)") == 1
    assert slapd.count("(&(objectClass=dcmUniqueWebAppName)(dcmWebAppName=ORTHANC))") == 1
    assert slapd.count("(&(objectClass=dcmNetworkConnection)(dcmProtocol=HTTP))") == 1
    assert slapd.count("(&(objectClass=dcmStorage)(dcmStorageID=fs2))") == 1
    assert [r["name"] for r in ok_json("webapp", "list", *ldap, cwd=tmp_path)] == ["ORTHANC"]
    assert [r["storage_id"] for r in ok_json("storage", "list", *ldap, cwd=tmp_path)] == ["fs2"]
    assert ok_json("webapp", "list", *ldap, cwd=tmp_path)[0]["url"] == "http://127.0.0.1:8042/dicom-web"

    ok("webapp", "remove", "ORTHANC", *ldap, "--yes", cwd=tmp_path)  # deletes entries: no terminal here
    ok("storage", "remove", "fs2", *ldap, "--yes", cwd=tmp_path)
    assert slapd.count("(objectClass=dcmWebApp)") == 0
    assert slapd.count("(objectClass=dcmUniqueWebAppName)") == 0
    assert slapd.count("(objectClass=dcmStorage)") == 0
    assert slapd.count("(dicomDeviceName=orthanc)") == 0
