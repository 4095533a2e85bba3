"""``dcm-exporter`` shows credentials as ``***`` unless asked (``--show-secrets``); ``config convert`` keeps them."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from _cli import ok, ok_json, run_cli

from dcm_exporter.codecs import ldif
from dcm_exporter.models import Configuration, Connection, Device, ExporterDescriptor, QueueDescriptor, WebApplication

TOKEN = "tok-cli-3f9a71"
BASIC = "carol:basicpw-8c2d"
URL_PASSWORD = "urlpw-cli-55e1"
NEW_TOKEN = "tok-created-0b7e"
SECRETS = (TOKEN, BASIC, "basicpw-8c2d", URL_PASSWORD, NEW_TOKEN)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    port = _free_port()
    device = Device(
        device_name="dcm4chee-arc",
        connections=(Connection(name="http", hostname="127.0.0.1", port=port, protocol="HTTP"),),
        exporters=(
            ExporterDescriptor(
                exporter_id="URL", uri=f"stow:http://dave:{URL_PASSWORD}@127.0.0.1:{port}/dicom-web",
                queue_name="Export1", ae_title="DCM4CHEE", properties={"chunked": "true"},
            ),
            ExporterDescriptor(
                exporter_id="WEBAPP", uri="stow:ORTHANC", queue_name="Export1", ae_title="DCM4CHEE",
                properties={"bearer-token": TOKEN, "concurrency": "2"},
            ),
        ),
        queues=(QueueDescriptor(queue_name="Export1"),),
        web_applications=(
            WebApplication(name="ORTHANC", service_path="/dicom-web", service_classes=("STOW_RS",),
                           connection_refs=("http",), properties={"basic-auth": BASIC}),
        ),
    )
    path = tmp_path / "config.ldif"
    path.write_text(ldif.dumps(Configuration(devices=(device,))))
    return path


def _assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"secret {secret!r} shown in:\n{text}"


def test_exporter_show_and_list_mask_credentials(config_file: Path, tmp_path: Path) -> None:
    c = ("--config", str(config_file))
    table = ok("exporter", "show", "WEBAPP", *c, cwd=tmp_path)
    _assert_clean(table)
    assert "bearer-token=***" in table and "concurrency=2" in table
    shown = ok_json("exporter", "show", "URL", *c, cwd=tmp_path)
    assert shown["uri"].startswith("stow:http://dave:***@127.0.0.1:")
    _assert_clean(json.dumps(shown))
    for fmt in ("table", "json", "csv"):
        _assert_clean(ok("exporter", "list", *c, "--format", fmt, cwd=tmp_path))
    # asked for: shown as configured
    revealed = ok_json("exporter", "show", "WEBAPP", *c, "--show-secrets", cwd=tmp_path)
    assert f"bearer-token={TOKEN}" in revealed["properties"]
    assert URL_PASSWORD in ok("exporter", "list", *c, "--show-secrets", cwd=tmp_path)


@pytest.mark.parametrize("fmt", ["table", "json", "ldif"])
def test_config_show_masks_credentials_in_every_format(fmt: str, config_file: Path, tmp_path: Path) -> None:
    c = ("--config", str(config_file))
    shown = ok("config", "show", *c, "--format", fmt, cwd=tmp_path)
    _assert_clean(shown)
    if fmt == "ldif":
        assert "dcmProperty: bearer-token=***" in shown and "dcmProperty: basic-auth=***" in shown
        assert "stow:http://dave:***@127.0.0.1:" in shown
    revealed = ok("config", "show", *c, "--format", fmt, "--show-secrets", cwd=tmp_path)
    if fmt != "table":  # the summary table has no column for them at all
        assert TOKEN in revealed and BASIC in revealed and URL_PASSWORD in revealed


def test_config_convert_is_configuration_and_keeps_credentials(config_file: Path, tmp_path: Path) -> None:
    out_json, out_ldif = tmp_path / "out.json", tmp_path / "out.ldif"
    ok("config", "convert", str(config_file), str(out_json), cwd=tmp_path)
    ok("config", "convert", str(out_json), str(out_ldif), cwd=tmp_path)
    text = out_ldif.read_text()
    assert TOKEN in text and BASIC in text and URL_PASSWORD in text
    assert ldif.load(out_ldif).exporters == ldif.load(config_file).exporters


def test_validate_create_and_verbose_logs_mask_credentials(config_file: Path, tmp_path: Path) -> None:
    c = ("--config", str(config_file))
    validated = run_cli("-vv", "config", "validate", *c, cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    _assert_clean(validated.stdout + validated.stderr)
    assert "Unknown Web Application" not in validated.stdout  # a stow: URL needs no web application
    # an exporter whose scheme has no transport here is reported with its URI, password masked
    # (a scheme no transport and no plug-in of the test environment registers: wado: and example: are taken)
    unknown = config_file.read_text().replace(f"dcmURI: stow:http://dave:{URL_PASSWORD}@",
                                              f"dcmURI: nosuchscheme:http://dave:{URL_PASSWORD}@")
    unknown_file = tmp_path / "unknown.ldif"
    unknown_file.write_text(unknown)
    reported = run_cli("-vv", "config", "validate", str(unknown_file), cwd=tmp_path)
    assert reported.returncode == 1, reported.stdout + reported.stderr  # its tasks cannot run
    assert "no transport for the scheme of nosuchscheme:http://dave:***@127.0.0.1:" in reported.stdout, (
        reported.stdout)
    _assert_clean(reported.stdout + reported.stderr)

    created = run_cli("-vv", "exporter", "create", *c, "--no-input", "--id", "NEW",
                      "--uri", f"stow:http://erin:{URL_PASSWORD}@127.0.0.1:{_free_port()}/dicom-web",
                      "--property", f"bearer-token={NEW_TOKEN}", cwd=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    _assert_clean(created.stdout + created.stderr)
    assert "exporter NEW (stow:http://erin:***@127.0.0.1:" in created.stdout
    written = ldif.load(config_file).exporters["NEW"]  # the file got the real values
    assert written.properties["bearer-token"] == NEW_TOKEN and URL_PASSWORD in written.uri

    # an export that finds nothing and one that cannot connect: outcome and -vv log lines stay clean
    from dcm_exporter.sample import generate_study

    source = tmp_path / "data"
    study = generate_study(source, series=1, instances_per_series=1, kind="mr")
    for exporter_id in ("URL", "NEW"):
        result = run_cli("-vv", "export", exporter_id, "--study", "1.2.3.4", "--now", *c, "--source", str(source),
                         cwd=tmp_path)
        assert result.returncode == 1 and "Could not find" in result.stdout, result.stdout + result.stderr
        _assert_clean(result.stdout + result.stderr)
        refused = run_cli("-vv", "export", exporter_id, "--study", study.study_uid, "--now", *c, "--source",
                          str(source), cwd=tmp_path)  # nobody listens on the port
        assert refused.returncode == 1 and "cannot connect" in refused.stdout + refused.stderr, refused
        _assert_clean(refused.stdout + refused.stderr)
