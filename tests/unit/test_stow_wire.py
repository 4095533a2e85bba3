"""STOW-RS wire format and the pure decisions of the stow: transport (no server, no HTTP)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from dcm_exporter.errors import ConfigurationError
from dcm_exporter.export import InstanceRef
from dcm_exporter.models import Configuration, Connection, Device, ExporterDescriptor, WebApplication
from dcm_exporter.transports._multipart import (
    BytesPart,
    FilePart,
    MultipartBody,
    ResponseParseError,
    StoreResponse,
    describe_failure_reason,
    parse_store_response,
)
from dcm_exporter.transports.stow import (
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    _batches,
    classify_response,
    resolve_settings,
)

CT = "1.2.840.10008.5.1.4.1.1.2"


def ref(uid: str, size: int = 100) -> InstanceRef:
    return InstanceRef(
        study_uid="1.2",
        series_uid="1.2.3",
        sop_instance_uid=uid,
        sop_class_uid=CT,
        transfer_syntax_uid=EXPLICIT_VR_LE,
        size=size,
        path=Path("/nonexistent") / uid,
    )


def response_json(*, failed: dict[str, int] = {}, referenced: dict[str, int | None] = {}) -> bytes:  # noqa: B006
    ds = Dataset()
    ds.RetrieveURL = "http://127.0.0.1/dicom-web/studies/1.2"
    items = []
    for uid, code in failed.items():
        item = Dataset()
        item.ReferencedSOPClassUID = CT
        item.ReferencedSOPInstanceUID = uid
        item.FailureReason = code
        items.append(item)
    ds.FailedSOPSequence = items
    ok = []
    for uid, warn in referenced.items():
        item = Dataset()
        item.ReferencedSOPClassUID = CT
        item.ReferencedSOPInstanceUID = uid
        if warn is not None:
            item.WarningReason = warn
        ok.append(item)
    ds.ReferencedSOPSequence = ok
    return json.dumps(ds.to_json_dict()).encode()


# --- multipart body -------------------------------------------------------------------------------


def test_multipart_body_streams_files_with_exact_length(tmp_path: Path) -> None:
    payloads = [b"A" * 10, b"B" * 700_000, b""]
    files = []
    for i, data in enumerate(payloads):
        p = tmp_path / f"{i}.dcm"
        p.write_bytes(data)
        files.append(p.open("rb"))
    body = MultipartBody([FilePart(f, chunk_size=4096) for f in files] + [BytesPart(b"xyz")], boundary="BND")
    chunks = list(body)
    raw = b"".join(chunks)
    assert len(raw) == body.length
    assert max(len(c) for c in chunks) <= 4096 + 100  # memory per chunk bounded, not per file
    assert body.content_type == 'multipart/related; type="application/dicom"; boundary=BND'
    parts = raw.split(b"--BND")
    assert parts[0] == b"" and parts[-1] == b"--\r\n"
    contents = [p.split(b"\r\n\r\n", 1)[1][:-2] for p in parts[1:-1]]
    assert contents == [*payloads, b"xyz"]
    assert list(body) == chunks  # re-iterable (a redirect or auth retry would resend)
    body.close()
    assert all(f.closed for f in files)


def test_file_part_detects_a_file_that_changed_while_sent(tmp_path: Path) -> None:
    p = tmp_path / "x.dcm"
    p.write_bytes(b"0123456789")
    part = FilePart(p.open("rb"))
    p.write_bytes(b"01234")  # truncated behind our back
    with pytest.raises(OSError, match="shrank"):
        b"".join(part.chunks())
    part.close()


def test_file_part_without_fileno_uses_seek() -> None:
    part = FilePart(io.BytesIO(b"abcdef"))
    assert part.length == 6
    assert b"".join(part.chunks()) == b"abcdef"


def test_boundaries_are_unique_per_body() -> None:
    assert MultipartBody([]).boundary != MultipartBody([]).boundary


# --- response parsing -----------------------------------------------------------------------------


def test_parse_json_failed_and_referenced() -> None:
    body = response_json(failed={"1.1": 0xA700}, referenced={"1.2": None, "1.3": 0xB000})
    r = parse_store_response(body, "application/dicom+json; charset=utf-8")
    assert dict(r.failed) == {"1.1": 0xA700}
    assert dict(r.referenced) == {"1.2": None, "1.3": 0xB000}
    assert r.retrieve_url == "http://127.0.0.1/dicom-web/studies/1.2"
    assert not r.is_empty


def test_parse_orthanc_style_empty_failed_sequence() -> None:
    # Orthanc always sends a Failed SOP Sequence; empty when all went well.
    r = parse_store_response(response_json(referenced={"1.2": None}), "application/dicom+json")
    assert dict(r.failed) == {} and dict(r.referenced) == {"1.2": None}


def test_parse_json_wrapped_in_array_and_sniffed_without_media_type() -> None:
    body = b"[" + response_json(failed={"9.9": 0xC000}) + b"]"
    assert dict(parse_store_response(body, None).failed) == {"9.9": 0xC000}


def test_parse_xml_native_dicom_model() -> None:
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">
  <DicomAttribute tag="00081198" vr="SQ" keyword="FailedSOPSequence">
    <Item number="1">
      <DicomAttribute tag="00081150" vr="UI"><Value number="1">1.2.840.10008.5.1.4.1.1.2</Value>
      </DicomAttribute>
      <DicomAttribute tag="00081155" vr="UI"><Value number="1">1.2.3.4</Value></DicomAttribute>
      <DicomAttribute tag="00081197" vr="US"><Value number="1">43264</Value></DicomAttribute>
    </Item>
  </DicomAttribute>
  <DicomAttribute tag="00081199" vr="SQ" keyword="ReferencedSOPSequence">
    <Item number="1">
      <DicomAttribute tag="00081155" vr="UI"><Value number="1">1.2.3.5</Value></DicomAttribute>
      <DicomAttribute tag="00081196" vr="US"><Value number="1">45063</Value></DicomAttribute>
    </Item>
  </DicomAttribute>
  <DicomAttribute tag="0008119A" vr="SQ" keyword="OtherFailuresSequence">
    <Item number="1">
      <DicomAttribute tag="00081197" vr="US"><Value number="1">272</Value></DicomAttribute>
    </Item>
  </DicomAttribute>
</NativeDicomModel>"""
    r = parse_store_response(body, "application/dicom+xml")
    assert dict(r.failed) == {"1.2.3.4": 0xA900}
    assert dict(r.referenced) == {"1.2.3.5": 0xB007}
    assert r.other_failures == ((None, 0x0110),)


@pytest.mark.parametrize(
    ("body", "media"),
    [
        (b"{not json", "application/dicom+json"),
        (b"<html><body>Bad gateway</body></html>", "text/html"),
        (b"<html>", "application/dicom+xml"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><NativeDicomModel/>', "application/dicom+xml"),
        (b"plain words", "text/plain"),
    ],
)
def test_parse_rejects_what_is_not_a_response_module(body: bytes, media: str) -> None:
    with pytest.raises(ResponseParseError):
        parse_store_response(body, media)


def test_parse_empty_body_is_empty() -> None:
    assert parse_store_response(b"  ", "application/dicom+json").is_empty


def test_failure_reason_text_uses_the_ranges_of_ps3_18() -> None:
    assert describe_failure_reason(0xA7FE) == "A7FEH out of resources"
    assert describe_failure_reason(0xC122) == "C122H referenced transfer syntax not supported"
    assert describe_failure_reason(0xC3AA) == "C3AAH cannot understand"


# --- classification -------------------------------------------------------------------------------


def test_200_completes_all_even_if_the_body_omits_some() -> None:
    refs = [ref("1"), ref("2")]
    results, failure = classify_response(200, "OK", StoreResponse(referenced={"1": None}), refs)
    assert failure is None
    assert [r.kind for r in results] == ["completed", "completed"]


def test_202_per_instance() -> None:
    refs = [ref("1"), ref("2"), ref("3"), ref("4")]
    resp = parse_store_response(
        response_json(failed={"2": 0xA700}, referenced={"1": None, "3": 0xB000}), "application/dicom+json"
    )
    results, failure = classify_response(202, "Accepted", resp, refs)
    assert failure is None
    kinds = {r.ref.sop_instance_uid: (r.kind, r.status_code) for r in results}
    assert kinds == {
        "1": ("completed", 202),
        "2": ("failed", 0xA700),
        "3": ("warning", 0xB000),
        "4": ("failed", 202),  # not named by a 202 answer: not known to be stored
    }
    assert "A700H out of resources" in (results[1].reason or "")


def test_409_with_failed_sop_sequence_is_per_instance() -> None:
    refs = [ref("1"), ref("2")]
    resp = parse_store_response(response_json(failed={"1": 0x0122, "2": 0x0122}), "application/dicom+json")
    results, failure = classify_response(409, "Conflict", resp, refs)
    assert failure is None
    assert all(r.kind == "failed" and r.status_code == 0x0122 for r in results)
    assert "referenced SOP class not supported" in (results[0].reason or "")


@pytest.mark.parametrize(("status", "retryable"), [(401, False), (409, False), (503, True), (429, True)])
def test_whole_request_failures(status: int, retryable: bool) -> None:
    refs = [ref("1"), ref("2")]
    results, failure = classify_response(status, "Reason", None, refs, "server said no")
    assert failure is not None and failure.retryable is retryable and failure.status_code == status
    assert all(r.kind == "failed" and r.status_code == status for r in results)
    assert results[0].reason == f"HTTP {status} Reason: server said no"


def test_batches_by_count_and_bytes() -> None:
    refs = [ref(str(i), size=40) for i in range(7)]
    assert [len(b) for b in _batches(refs, 3, 10_000)] == [3, 3, 1]
    assert [len(b) for b in _batches(refs, 50, 100)] == [2, 2, 2, 1]
    big = [ref("a", 500), ref("b", 10), ref("c", 10)]
    assert [len(b) for b in _batches(big, 50, 100)] == [1, 2]  # an oversized instance goes alone


# --- settings -------------------------------------------------------------------------------------


def config_with(
    props: dict[str, str], *, tls: bool = False, classes: tuple[str, ...] = ("STOW_RS",)
) -> Configuration:
    conn = Connection(
        name="http",
        hostname="127.0.0.1",
        port=8443 if tls else 8080,
        protocol="HTTP",
        tls_cipher_suites=("TLS_AES_128_GCM_SHA256",) if tls else (),
        tcp_connect_timeout=2500,
    )
    web = WebApplication(
        name="PACS",
        service_path="/dcm4chee-arc/aets/DCM4CHEE/rs",
        service_classes=classes,
        connection_refs=("http",),
        properties=props,
    )
    return Configuration(devices=[Device(device_name="pacs", connections=[conn], web_applications=[web])])


def exporter(uri: str, props: dict[str, str] | None = None) -> ExporterDescriptor:
    return ExporterDescriptor(exporter_id="STOW1", uri=uri, queue_name="Export1", properties=props or {})


def test_settings_from_web_application() -> None:
    s = resolve_settings(
        exporter("stow:PACS", {"concurrency": "9", "batch-instances": "7"}),
        config_with(
            {"chunked": "true", "concurrency": "4", "transfer-syntax": "JPEGLosslessSV1,1.2.840.10008.1.2"}
        ),
    )
    assert s.url == "http://127.0.0.1:8080/dcm4chee-arc/aets/DCM4CHEE/rs/studies"
    assert s.destination == "PACS"
    assert s.chunked is True
    assert s.concurrency == 4  # the web application's value wins
    assert s.batch_instances == 7  # the exporter fills in what the web application does not set
    assert s.transfer_syntaxes == {"1.2.840.10008.1.2.4.70", IMPLICIT_VR_LE}
    assert s.connect_timeout == 2.5  # dcmTCPConnectTimeout of the connection
    assert s.verify and s.check_hostname


def test_settings_tls_and_trust_properties() -> None:
    s = resolve_settings(exporter("stow:PACS"), config_with({"allow-any-hostname": "true"}, tls=True))
    assert s.url.startswith("https://127.0.0.1:8443/")
    assert s.verify is True and s.check_hostname is False
    s = resolve_settings(exporter("stow:PACS"), config_with({"disable-trust-manager": "TRUE"}, tls=True))
    assert s.verify is False


def test_transfer_syntax_choice_follows_dcm4chee() -> None:
    cfg = config_with({"transfer-syntax": "ImplicitVRLittleEndian"})
    s = resolve_settings(exporter("stow:PACS"), cfg)
    assert s.target_transfer_syntax(IMPLICIT_VR_LE) is None
    assert s.target_transfer_syntax(EXPLICIT_VR_LE) == IMPLICIT_VR_LE  # only implicit listed
    cfg = config_with({"transfer-syntax": "JPEGBaseline8Bit"})
    s = resolve_settings(exporter("stow:PACS"), cfg)
    assert s.target_transfer_syntax("1.2.840.10008.1.2.4.50") is None
    assert s.target_transfer_syntax("1.2.840.10008.1.2.4.90") == EXPLICIT_VR_LE
    s = resolve_settings(exporter("stow:PACS"), config_with({}))
    assert s.target_transfer_syntax("1.2.840.10008.1.2.4.90") is None  # absent: send as stored


def test_direct_url_with_user_info_keeps_credentials_out_of_the_url() -> None:
    s = resolve_settings(exporter("stow:https://alice:s3cr%40t@pacs.example:8443/dicom-web"), Configuration())
    assert s.url == "https://pacs.example:8443/dicom-web/studies"
    assert s.destination == s.url
    assert s.headers()["Authorization"] == "Basic YWxpY2U6czNjckB0"  # alice:s3cr@t
    assert "s3cr" not in repr(s) and "YWxp" not in repr(s)
    s = resolve_settings(exporter("stow:http://127.0.0.1:8042/dicom-web/studies/"), Configuration())
    assert s.url == "http://127.0.0.1:8042/dicom-web/studies"


def test_bearer_token_is_never_shown() -> None:
    s = resolve_settings(exporter("stow:PACS"), config_with({"bearer-token": "TOPSECRET"}))
    assert s.headers()["Authorization"] == "Bearer TOPSECRET"
    assert "TOPSECRET" not in repr(s) and "TOPSECRET" not in str(s)


@pytest.mark.parametrize(
    ("uri", "props", "classes", "match"),
    [
        ("stow:NOPE", {}, ("STOW_RS",), "NOPE"),
        ("stow:PACS", {}, ("WADO_RS", "QIDO_RS"), "does not offer the STOW_RS"),
        ("stow:PACS", {"concurrency": "many"}, ("STOW_RS",), "concurrency='many'.*whole number"),
        ("stow:PACS", {"concurrency": "0"}, ("STOW_RS",), "greater than 0"),
        ("stow:PACS", {"chunked": "maybe"}, ("STOW_RS",), "chunked='maybe'.*true or false"),
        ("stow:PACS", {"transfer-syntax": "JPEG2000Fancy"}, ("STOW_RS",), "JPEG2000Fancy"),
        ("stow:PACS", {"basic-auth": "nocolon"}, ("STOW_RS",), "user>:<password"),
        ("stow:PACS", {"basic-auth": "a:b", "bearer-token": "t"}, ("STOW_RS",), "either"),
        ("stow:ftp://host/x", {}, ("STOW_RS",), "http:// or https://"),
        ("stow:http://host:99999/x", {}, ("STOW_RS",), "invalid port"),
    ],
)
def test_bad_configuration_is_a_clear_error(
    uri: str, props: dict[str, str], classes: tuple[str, ...], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        resolve_settings(exporter(uri), config_with(props, classes=classes))
