"""LdapConfigStore's typed errors against real slapd servers, and TLS (LDAPS, StartTLS) with a throwaway CA."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dcm_exporter.config.ldap import LdapConfigStore
from dcm_exporter.errors import (
    ConfigurationError,
    LdapBindError,
    LdapConnectionError,
    LdapError,
    LdapNoSuchEntryError,
    LdapSchemaError,
    LdapTimeoutError,
)
from dcm_exporter.models import ExporterDescriptor
from servers.ports import free_port
from servers.slapd import SlapdServer, make_tls

pytestmark = pytest.mark.slapd

WRONG_PASSWORD = "Wr0ng-pa55word-XYZ"


def _everything_said(exc: BaseException) -> str:
    """str and repr of an exception and of every exception it chains to."""
    parts = []
    seen: BaseException | None = exc
    while seen is not None:
        parts += [str(seen), repr(seen), repr(seen.args)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def test_bind_refused_never_shows_the_password(slapd: SlapdServer, caplog: pytest.LogCaptureFixture) -> None:
    store = LdapConfigStore(slapd.url, slapd.bind_dn, WRONG_PASSWORD)
    with caplog.at_level(logging.DEBUG), pytest.raises(LdapBindError) as info:
        store.load()
    err = info.value
    assert err.dn == slapd.bind_dn and "invalidCredentials (49)" in (err.result or "")
    assert "check the bind DN and password" in str(err)
    assert WRONG_PASSWORD not in _everything_said(err)
    assert WRONG_PASSWORD not in repr(store) and WRONG_PASSWORD not in str(vars(store))
    assert WRONG_PASSWORD not in caplog.text
    assert all(WRONG_PASSWORD not in str(r.__dict__) for r in caplog.records)


def test_password_absent_from_logs_of_a_working_session(
    slapd: SlapdServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), LdapConfigStore(slapd.url, slapd.bind_dn, slapd.password) as store:
        store.load()
        store.add_remote_ae("STORESCP", "127.0.0.1", 11117)
        assert slapd.password not in repr(store)
    assert caplog.records, "the store logs what it does"
    assert all(slapd.password not in str(r.__dict__) for r in caplog.records)


def test_unreachable_server() -> None:
    port = free_port()  # nothing listens there
    store = LdapConfigStore(f"ldap://127.0.0.1:{port}", "cn=admin,dc=dcm4che,dc=org", "pw", connect_timeout=2)
    with pytest.raises(LdapConnectionError) as info:
        store.load()
    assert info.value.retryable
    assert f"cannot reach the LDAP server ldap://127.0.0.1:{port}" in str(info.value)
    assert not isinstance(info.value, LdapTimeoutError)


def _wait_until_stopped(pid: int, timeout: float = 10.0) -> None:
    """SIGSTOP is delivered asynchronously: wait until every thread of ``pid`` is in the stopped state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = []
        for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
            try:
                states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
            except (OSError, IndexError):
                continue
        if states and all(state in ("T", "t") for state in states):
            return
        time.sleep(0.01)
    raise AssertionError(f"slapd (pid {pid}) did not stop within {timeout} s")


def test_timeout_when_the_server_does_not_answer(slapd: SlapdServer) -> None:
    assert slapd.process is not None
    with LdapConfigStore(slapd.url, slapd.bind_dn, slapd.password, timeout=1) as store:
        os.kill(slapd.process.pid, signal.SIGSTOP)  # the kernel still accepts; slapd answers nothing
        try:
            _wait_until_stopped(slapd.process.pid)
            with pytest.raises(LdapTimeoutError) as info:
                store.load()
        finally:
            os.kill(slapd.process.pid, signal.SIGCONT)
        assert info.value.retryable and "no answer within 1 s" in str(info.value)
        assert store.load().base_dn == slapd.base_dn  # a new connection after the broken one


def test_configuration_root_missing_says_load_init_config(slapd_factory: Callable[..., SlapdServer]) -> None:
    server = slapd_factory(schema="compact", content="base")
    with LdapConfigStore(server.url, server.bind_dn, server.password) as store, pytest.raises(
        LdapNoSuchEntryError
    ) as info:
        store.load()
    assert "init-config.ldif" in str(info.value)
    assert info.value.dn == "cn=DICOM Configuration,dc=dcm4che,dc=org"
    assert "noSuchObject (32)" in (info.value.result or "")


def test_base_dn_missing(slapd: SlapdServer) -> None:
    store = LdapConfigStore(slapd.url, slapd.bind_dn, slapd.password, base_dn="dc=example,dc=org")
    with store, pytest.raises(LdapError) as info:
        store.load()
    assert "dc=example,dc=org" in str(info.value)


def test_object_class_not_in_the_compact_schema_names_the_file(slapd: SlapdServer) -> None:
    ldif = """\
dn: hl7ApplicationName=ADT^DCM4CHEE,cn=Unique HL7 Application Names Registry,cn=DICOM Configuration,dc=dcm4che,dc=org
changetype: add
objectClass: hl7UniqueApplicationName
hl7ApplicationName: ADT^DCM4CHEE
"""
    with LdapConfigStore(slapd.url, slapd.bind_dn, slapd.password) as store:
        report = store.import_ldif(ldif, continue_on_error=True)
        [rejected] = report.rejected
        assert isinstance(rejected.error, LdapSchemaError)
        assert "dcm4che.ldif" in str(rejected.error) and rejected.line == 1

        exporter = ExporterDescriptor(exporter_id="X", uri="noop:x", queue_name="Q",
                                      object_classes=("dcmExporter", "dcmPriorsExporter"))
        store.add_remote_ae("ARC", "127.0.0.1", 11112, device_name="arc")
        with pytest.raises(LdapSchemaError) as info:
            store.add_exporter(exporter, device_name="arc")
    assert "dcmPriorsExporter" in str(info.value) and "dcm4chee-archive.ldif" in str(info.value)


def test_an_attribute_no_dcm4che_schema_defines_is_not_blamed_on_a_missing_dcm4che_schema(
    slapd: SlapdServer,
) -> None:
    # what `cat init-config.ldif default-config.ldif` gives: the second file's "version: 1" line becomes an
    # attribute of the entry before it
    ldif = """\
dn: cn=Unique Web Application Names Registry,cn=DICOM Configuration,dc=dcm4che,dc=org
changetype: add
objectClass: dcmUniqueWebAppNamesRegistryRoot
cn: Unique Web Application Names Registry
version: 1
"""
    with LdapConfigStore(slapd.url, slapd.bind_dn, slapd.password) as store:
        report = store.import_ldif(ldif, continue_on_error=True)
    [rejected] = report.rejected
    assert isinstance(rejected.error, LdapSchemaError)
    said = str(rejected.error)
    assert "attribute type version is not in the server's schema, and no dcm4che schema file defines it" in said
    assert "load dcm4che" not in said and "attribute type undefined" in said, said  # the server's words too


def test_bad_arguments_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="ldap:// or ldaps://"):
        LdapConfigStore("http://127.0.0.1:389")
    with pytest.raises(ConfigurationError, match="does not exist"):
        LdapConfigStore("ldaps://127.0.0.1", ca_file=tmp_path / "missing.pem")
    with pytest.raises(ConfigurationError, match="TLS already"):
        LdapConfigStore("ldaps://127.0.0.1", start_tls=True)


def test_no_archive_device_asks_for_a_device_name(slapd: SlapdServer) -> None:
    exporter = ExporterDescriptor(exporter_id="X", uri="noop:x", queue_name="Q")
    with LdapConfigStore(slapd.url, slapd.bind_dn, slapd.password) as store, pytest.raises(
        ConfigurationError, match="pass device_name"
    ):
        store.add_exporter(exporter)


# --- TLS -------------------------------------------------------------------------------------------------


def test_ldaps_with_the_throwaway_ca(slapd_ldaps: SlapdServer) -> None:
    assert slapd_ldaps.ldaps_url is not None
    with LdapConfigStore(slapd_ldaps.ldaps_url, slapd_ldaps.bind_dn, slapd_ldaps.password,
                         ca_file=slapd_ldaps.ca_file) as store:
        config = store.load()
        store.add_remote_ae("STORESCP", "127.0.0.1", 11117)
    assert config.base_dn == "dc=dcm4che,dc=org"
    assert slapd_ldaps.count("(dicomAETitle=STORESCP)") == 2  # AE and registry entry


def test_starttls_with_the_throwaway_ca(slapd_ldaps: SlapdServer) -> None:
    with LdapConfigStore(slapd_ldaps.url, slapd_ldaps.bind_dn, slapd_ldaps.password, start_tls=True,
                         ca_file=slapd_ldaps.ca_file) as store:
        store.load()
        assert store.round_trips == 3  # StartTLS, bind, search
    assert any(op.kind == "EXT" for op in slapd_ldaps.operations())


@pytest.mark.parametrize("start_tls", [False, True], ids=["ldaps", "starttls"])
def test_wrong_ca_fails_clearly(slapd_ldaps: SlapdServer, tmp_path: Path, start_tls: bool) -> None:
    wrong_ca, _, _ = make_tls(tmp_path / "other-ca")
    url = slapd_ldaps.url if start_tls else slapd_ldaps.ldaps_url
    assert url is not None
    store = LdapConfigStore(url, slapd_ldaps.bind_dn, slapd_ldaps.password, start_tls=start_tls,
                            ca_file=wrong_ca)
    with pytest.raises(LdapConnectionError) as info:
        store.load()
    message = str(info.value)
    assert "TLS with" in message and str(wrong_ca) in message
    assert "CERTIFICATE_VERIFY_FAILED" in (info.value.result or "")
    assert info.value.retryable is False  # a wrong CA does not fix itself
    assert slapd_ldaps.password not in _everything_said(info.value)


def test_unverified_tls_only_when_asked(slapd_ldaps: SlapdServer) -> None:
    assert slapd_ldaps.ldaps_url is not None
    with pytest.raises(LdapConnectionError):  # verification is on by default: the system store lacks the CA
        LdapConfigStore(slapd_ldaps.ldaps_url, slapd_ldaps.bind_dn, slapd_ldaps.password).open()
    with LdapConfigStore(slapd_ldaps.ldaps_url, slapd_ldaps.bind_dn, slapd_ldaps.password, verify=False) as store:
        assert store.load().devices == ()


def _restart(server: SlapdServer) -> None:
    """Stop slapd and start it again on the same port with the same data."""
    from servers.slapd import _start

    server.stop()
    server.process = _start(server.workdir, port=server.port, ldaps_port=None, log=server.log_path)


def test_reads_after_a_server_restart_reconnect_by_themselves(slapd: SlapdServer) -> None:
    """The server restarts between two reads (same port, same data): the next read reconnects once and
    succeeds. A write that meets the dead connection is not repeated (it may or may not have been applied)
    but fails clearly; the next one works."""
    with LdapConfigStore(slapd.url, slapd.bind_dn, slapd.password, slapd.base_dn) as store:
        store.add_remote_ae("STORESCP", "127.0.0.1", 11117)
        first = store.load()
        _restart(slapd)
        assert store.load() == first
        _restart(slapd)
        assert store.find_remote_ae("STORESCP").port == 11117
        _restart(slapd)
        with pytest.raises(LdapConnectionError) as info:
            store.add_remote_ae("SECOND", "127.0.0.1", 11118)
        assert slapd.url in str(info.value)
        store.add_remote_ae("SECOND", "127.0.0.1", 11118)
        assert store.find_remote_ae("SECOND").port == 11118
