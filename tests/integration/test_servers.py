"""Each shared server fixture works against the real server it starts."""

from __future__ import annotations

import json
import socket
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from dcm_exporter.testing import StoreSCP


def _testdata(name: str) -> Path:
    path = get_testdata_file(name)
    assert path is not None, f"pydicom test file {name} is not bundled"
    return Path(str(path))


def _dataset_bytes(path: Path) -> bytes:
    """The encoded dataset of a Part 10 file, after the preamble and the file meta group."""
    raw = path.read_bytes()
    assert raw[128:132] == b"DICM"
    # (0002,0000) File Meta Information Group Length, explicit VR LE: tag(4) VR(2) len(2) value(4)
    group_len = int.from_bytes(raw[140:144], "little")
    return raw[144 + group_len :]


def _associate(port: int, called: str, *contexts: tuple[str, list[str]]) -> Any:
    from pynetdicom import AE

    ae = AE(ae_title="TESTSCU")
    for uid, syntaxes in contexts:
        ae.add_requested_context(uid, syntaxes)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    assert assoc.is_established, f"association to {called} at 127.0.0.1:{port} failed"
    return assoc


VERIFICATION = ("1.2.840.10008.1.1", ["1.2.840.10008.1.2"])


@pytest.mark.dcmtk
def test_storescp_answers_c_echo_and_stores(storescp: Any) -> None:
    ct = _testdata("CT_small.dcm")
    ds = dcmread(ct, stop_before_pixels=True)
    assoc = _associate(
        storescp.port, storescp.ae_title, VERIFICATION, (ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID])
    )
    try:
        assert assoc.send_c_echo().Status == 0x0000
        assert assoc.send_c_store(ct).Status == 0x0000
    finally:
        assoc.release()
    files = storescp.files()
    assert len(files) == 1
    assert dcmread(files[0]).SOPInstanceUID == ds.SOPInstanceUID


@pytest.mark.dcmtk
def test_storescp_factory_options(storescp_factory: Any) -> None:
    server = storescp_factory(ae_title="IGNORING", options=("+xa", "--ignore", "--fork"))
    assert server.ae_title == "IGNORING" and "--ignore" in server.argv
    assoc = _associate(server.port, "IGNORING", VERIFICATION)
    try:
        assert assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()
    assert server.files() == []


@pytest.mark.orthanc
def test_orthanc_system_and_stow_endpoint(orthanc: Any) -> None:
    system = orthanc.get_json("/system")
    assert system["DicomAet"] == "ORTHANC"
    assert system["DicomPort"] == orthanc.dicom_port
    assert orthanc.instances() == []
    # the DICOMweb plugin answers (QIDO on the empty server)
    with urllib.request.urlopen(orthanc.dicomweb_url + "/studies", timeout=10) as rsp:
        body = rsp.read()
    assert json.loads(body or b"[]") == []
    # DICOM side: C-ECHO
    assoc = _associate(orthanc.dicom_port, orthanc.ae_title, VERIFICATION)
    try:
        assert assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()


@pytest.mark.orthanc
def test_orthanc_extra_config_is_applied(orthanc_factory: Any) -> None:
    server = orthanc_factory(
        ae_title="PACS", extra_config={"DicomModalities": {"scu": ["TESTSCU", "127.0.0.1", 11112]}}
    )
    assert server.get_json("/modalities") == ["scu"]
    assert server.get_json("/system")["DicomAet"] == "PACS"


@pytest.mark.postgres
def test_pg_database_select_1(pg_database: Any) -> None:
    import psycopg

    with psycopg.connect(pg_database.dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SELECT current_database()").fetchone() == (pg_database.name,)


def test_store_scp_receives_byte_identical(store_scp: StoreSCP) -> None:
    sources = [_testdata("CT_small.dcm"), _testdata("MR_small.dcm")]
    datasets = [dcmread(p, stop_before_pixels=True) for p in sources]
    assoc = _associate(
        store_scp.port,
        "STORESCP",
        *((ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID]) for ds in datasets),
    )
    try:
        statuses = [assoc.send_c_store(p).Status for p in sources]
    finally:
        assoc.release()
    assert statuses == [0x0000, 0x0000]
    received = store_scp.received
    assert [r.sop_instance_uid for r in received] == [ds.SOPInstanceUID for ds in datasets]
    for source, ds, rec in zip(sources, datasets, received, strict=True):
        assert rec.calling_ae_title == "TESTSCU"
        assert rec.transfer_syntax_uid == ds.file_meta.TransferSyntaxUID
        assert rec.status == 0x0000
        assert rec.path is not None
        assert _dataset_bytes(rec.path) == _dataset_bytes(source)
        assert rec.size == len(_dataset_bytes(source))
        stored = dcmread(rec.path)
        assert stored.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_store_scp_sets_tcp_nodelay(store_scp: StoreSCP) -> None:
    assoc = _associate(store_scp.port, "STORESCP", VERIFICATION)
    try:
        assert assoc.send_c_echo().Status == 0x0000
        # the SCP side of the association, after its EVT_CONN_OPEN handler ran
        server_side = store_scp._server.active_associations
        options = [
            a.dul.socket.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for a in server_side
        ]
    finally:
        assoc.release()
    assert options and all(v != 0 for v in options)
    assert store_scp.echoes == 1


# --- slapd -------------------------------------------------------------------------------------

INIT_TREE = {
    "cn=DICOM Configuration,dc=dcm4che,dc=org",
    "cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org",
    "cn=Unique AE Titles Registry,cn=DICOM Configuration,dc=dcm4che,dc=org",
    "cn=Unique HL7 Application Names Registry,cn=DICOM Configuration,dc=dcm4che,dc=org",
    "cn=Unique Web Application Names Registry,cn=DICOM Configuration,dc=dcm4che,dc=org",
}


def _ldap3_connection(server: Any, *, ldaps: bool = False, ca_file: Path | None = None) -> Any:
    import ssl

    import ldap3

    if ldaps:
        tls = ldap3.Tls(ca_certs_file=str(ca_file), validate=ssl.CERT_REQUIRED)
        srv = ldap3.Server("127.0.0.1", port=server.ldaps_port, use_ssl=True, tls=tls, connect_timeout=5)
    else:
        srv = ldap3.Server("127.0.0.1", port=server.port, connect_timeout=5)
    with warnings.catch_warnings():
        # ldap3 2.9 checks the host name with ssl.match_hostname(), deprecated since Python 3.7
        warnings.filterwarnings("ignore", "ssl.match_hostname", DeprecationWarning)
        return ldap3.Connection(srv, user=server.bind_dn, password=server.password, auto_bind=True)


@pytest.mark.slapd
def test_slapd_compact_bind_search_and_access_log(slapd: Any) -> None:
    conn = _ldap3_connection(slapd)
    try:
        mark = slapd.log_mark()
        conn.search(slapd.config_root_dn, "(objectClass=*)", attributes=["objectClass"])
        dns = {e.entry_dn for e in conn.entries}
        assert dns >= INIT_TREE
        conn.search(slapd.devices_dn, "(objectClass=dicomNetworkAE)")
        assert conn.entries == []
    finally:
        conn.unbind()
    searches = slapd.operations("SRCH", since=mark)
    assert [op.detail.split('" ')[0] for op in searches] == [
        f' base="{slapd.config_root_dn}',
        f' base="{slapd.devices_dn}',
    ]
    assert slapd.schema == "compact" and slapd.url == f"ldap://127.0.0.1:{slapd.port}"


@pytest.mark.slapd
def test_slapd_servers_are_independent(slapd_factory: Any) -> None:
    first = slapd_factory()
    second = slapd_factory()
    assert first.port != second.port
    first.ldapadd(
        "dn: dicomAETitle=ONLY_IN_FIRST,cn=Unique AE Titles Registry,"
        "cn=DICOM Configuration,dc=dcm4che,dc=org\n"
        "objectClass: dicomUniqueAETitle\ndicomAETitle: ONLY_IN_FIRST\n"
    )
    assert first.count("(dicomAETitle=ONLY_IN_FIRST)") == 1
    assert second.count("(dicomAETitle=ONLY_IN_FIRST)") == 0


@pytest.mark.slapd
@pytest.mark.upstream
def test_slapd_upstream_has_default_config(slapd_upstream: Any) -> None:
    conn = _ldap3_connection(slapd_upstream)
    try:
        conn.search(
            slapd_upstream.devices_dn,
            "(&(objectClass=dicomNetworkAE)(dicomAETitle=STORESCP))",
            attributes=["dicomNetworkConnectionReference"],
        )
        assert len(conn.entries) == 1
        assert conn.entries[0].entry_dn.startswith("dicomAETitle=STORESCP,dicomDeviceName=storescp,")
        conn.search(slapd_upstream.devices_dn, "(objectClass=dicomDevice)", search_scope="LEVEL")
        assert len(conn.entries) == 6
    finally:
        conn.unbind()


def _ldif_records(path: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """Minimal reader for the upstream files (unfolds continuation lines; base64 values kept as written)."""
    text = path.read_text().replace("\n ", "")
    records = []
    for block in text.split("\n\n"):
        lines = [ln for ln in block.splitlines() if ln and not ln.startswith("#") and ln != "version: 1"]
        if not lines or not lines[0].startswith("dn:"):
            continue
        attrs = [(ln.split(":", 1)[0], ln.split(":", 1)[1]) for ln in lines[1:]]
        records.append((lines[0][3:].strip(), attrs))
    return records


@pytest.mark.slapd
@pytest.mark.upstream
def test_compact_schema_loads_upstream_entries_of_its_classes(slapd: Any, upstream_dir: Path) -> None:
    import re

    from servers.slapd import COMPACT_SCHEMA

    schema = COMPACT_SCHEMA.read_text()
    classes = set(re.findall(r"olcObjectClasses: \( [\d.]+\s+NAME '(\w+)'", schema))
    attributes = set(re.findall(r"olcAttributeTypes: \( [\d.]+\s+NAME '(\w+)'", schema))
    attributes |= {"objectClass", "cn"}
    trimmed_classes = {"dcmArchiveDevice", "dcmArchiveNetworkAE"}
    records = _ldif_records(upstream_dir / "ldap" / "config" / "default-config.ldif")
    loadable = []
    stripped = 0
    for dn, attrs in records:
        ocs = {v.strip() for k, v in attrs if k.lower() == "objectclass"}
        if not ocs <= classes:
            continue
        kept = [(k, v) for k, v in attrs if k.split(";")[0] in attributes]
        if len(kept) != len(attrs):
            # only the two archive classes are trimmed on purpose; everything else must load unchanged
            assert ocs & trimmed_classes, (
                f"{dn}: compact schema lacks {[k for k, _ in attrs if (k, _) not in kept]}"
            )
            stripped += 1
        loadable.append(f"dn: {dn}\n" + "".join(f"{k}:{v}\n" for k, v in kept))
    # the parents of the upstream init tree already exist in the fixture
    slapd.ldapadd("\n".join(loadable))
    assert stripped == 1 + 8  # the dcm4chee-arc device and its archive AEs
    assert slapd.count("(objectClass=dicomTransferCapability)") > 1000
    assert slapd.count("(&(objectClass=dicomNetworkAE)(dicomAETitle=STORESCP))") == 1
    # and the upstream sample export configuration loads on top
    slapd.ldapadd(upstream_dir / "ldap" / "config" / "sample-export.ldif")
    out = slapd.ldapsearch("(objectClass=dcmExporter)", "dcmURI", "dcmQueueName")
    assert "dcmURI: dicom:STORESCP" in out and "dcmQueueName: Export1" in out
    assert slapd.count("(&(objectClass=dcmExportRule)(dcmEntity=Series))") == 1


@pytest.mark.slapd
def test_compact_schema_rejects_unknown_attributes(slapd: Any) -> None:
    from servers.ports import ServerError

    with pytest.raises(ServerError, match="undefined"):
        slapd.ldapadd(
            "dn: dicomDeviceName=x,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org\n"
            "objectClass: dicomDevice\ndicomDeviceName: x\ndicomInstalled: TRUE\nnoSuchAttribute: 1\n"
        )


@pytest.mark.slapd
def test_slapd_ldaps_with_the_right_ca(slapd_ldaps: Any, tmp_path: Path) -> None:
    assert slapd_ldaps.ldaps_url == f"ldaps://127.0.0.1:{slapd_ldaps.ldaps_port}"
    assert slapd_ldaps.ca_file is not None and slapd_ldaps.ca_file.exists()
    conn = _ldap3_connection(slapd_ldaps, ldaps=True, ca_file=slapd_ldaps.ca_file)
    try:
        assert conn.bound
        conn.search(slapd_ldaps.devices_dn, "(objectClass=*)", search_scope="BASE")
        assert len(conn.entries) == 1
    finally:
        conn.unbind()
    assert "cn: Devices" in slapd_ldaps.ldapsearch("(cn=Devices)", "cn", ldaps=True)


@pytest.mark.slapd
def test_slapd_ldaps_with_another_ca_fails(slapd_ldaps: Any, tmp_path: Path) -> None:
    import ldap3.core.exceptions

    from servers.slapd import make_tls

    other_ca, _, _ = make_tls(tmp_path / "other")
    with pytest.raises(ldap3.core.exceptions.LDAPException):
        _ldap3_connection(slapd_ldaps, ldaps=True, ca_file=other_ca)


# --- missing servers: skip locally, fail in CI -------------------------------------------------


def test_missing_binary_skips_without_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from servers.ports import require_binary

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs Debian package no-such-package"):
        require_binary("no-such-binary-dcmexp", "no-such-package")


def test_missing_binary_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from servers.ports import require_binary

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="needs Debian package no-such-package"):
        require_binary("no-such-binary-dcmexp", "no-such-package")


def test_server_processes_die_with_the_test_process(tmp_path: Path) -> None:
    """A server started through servers.ports gets SIGKILL when its parent dies (no leaked servers)."""
    import subprocess
    import sys
    import time

    from servers.ports import port_accepts

    script = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        "from pathlib import Path\n"
        "from servers.ports import Process, free_port\n"
        "port = free_port()\n"
        "p = Process([sys.executable, '-m', 'http.server', '--bind', '127.0.0.1', str(port)],\n"
        f"            log_path=Path({str(tmp_path / 'child.log')!r}))\n"
        "p.wait_port(port)\n"
        "print(port, p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        port_text, pid_text = parent.stdout.readline().split()
        port, pid = int(port_text), int(pid_text)
        assert port_accepts(port)
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    deadline = time.monotonic() + 10
    while port_accepts(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not port_accepts(port), f"child {pid} survived its parent"
