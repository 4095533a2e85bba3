"""LdapConfigStore against slapd with dcm4che's own schemas and default-config.ldif (from ``../shared``)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import attrs
import pytest

from dcm_exporter.codecs import ldif
from dcm_exporter.config.ldap import LdapConfigStore
from dcm_exporter.schedule import Schedules
from servers.slapd import SlapdServer

pytestmark = [pytest.mark.slapd, pytest.mark.upstream]

ARC = "dicomDeviceName=dcm4chee-arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org"


def _config_files(upstream_dir: Path) -> list[Path]:
    folder = upstream_dir / "ldap" / "config"
    return [folder / "init-config.ldif", folder / "default-config.ldif"]


def _store(server: SlapdServer, **kwargs: object) -> LdapConfigStore:
    return LdapConfigStore(server.url, server.bind_dn, server.password, server.base_dn, **kwargs)  # type: ignore[arg-type]


def _mod_attributes(server: SlapdServer, mark: int) -> list[list[str]]:
    with server.log_path.open("rb") as fh:
        fh.seek(mark)
        text = fh.read().decode(errors="replace")
    ops: dict[str, list[str]] = {}
    for m in re.finditer(r"conn=(\d+ op=\d+) MOD (dn=|attr=)(.*)", text):
        ops.setdefault(m.group(1), []).extend(m.group(3).split() if m.group(2) == "attr=" else [])
    return list(ops.values())


def test_load_equals_from_ldif_of_default_config(slapd_upstream: SlapdServer, upstream_dir: Path) -> None:
    expected = ldif.load(_config_files(upstream_dir))
    entries = sum(1 for line in _config_files(upstream_dir)[1].read_text().splitlines() if line.startswith("dn:"))
    with _store(slapd_upstream) as store:
        mark = slapd_upstream.log_mark()
        before = store.round_trips
        loaded = store.load()
        pages = store.round_trips - before
    assert loaded == expected
    assert len(loaded.devices) == 6
    # one paged search: a request per page of 500 entries, not one per entry
    total = entries + 5  # init-config's five entries
    assert pages == math.ceil(total / 500) or pages == math.ceil(total / 500) + (total % 500 == 0)
    searches = slapd_upstream.operations("SRCH", since=mark)
    assert len(searches) == pages
    assert {s.detail.split(" scope=")[0] for s in searches} == {' base="cn=DICOM Configuration,dc=dcm4che,dc=org"'}


def test_seed_exporter_lifecycle(slapd_upstream: SlapdServer, upstream_dir: Path) -> None:
    seeded = ldif.load([*_config_files(upstream_dir), upstream_dir / "ldap/config/sample-export.ldif"])
    exporter = seeded.exporters["STORESCP"]
    with _store(slapd_upstream) as store:
        dn = store.add_exporter(exporter)  # the archive device is found by its dcmArchiveDevice class
        assert dn == f"dcmExporterID=STORESCP,{ARC}"
        out = slapd_upstream.ldapsearch("(dcmExporterID=STORESCP)", base=ARC, scope="one")
        assert "dcmURI: dicom:STORESCP" in out and "dicomAETitle: DCM4CHEE" in out
        assert "dcmQueueName: Export1" in out

        night = attrs.evolve(exporter, schedules=Schedules.parse(["hour=18-6 dayOfWeek=*", "hour=* dayOfWeek=0,6"]))
        mark = slapd_upstream.log_mark()
        sent = store.update_exporter(night)
        assert [m.attribute for m in sent] == ["dcmSchedule"]
        assert _mod_attributes(slapd_upstream, mark) == [["dcmSchedule"]]
        out = slapd_upstream.ldapsearch("(dcmExporterID=STORESCP)", "dcmSchedule", base=ARC, scope="one")
        assert "dcmSchedule: hour=18-6 dayOfWeek=*" in out and "dcmSchedule: hour=* dayOfWeek=0,6" in out

        reloaded = store.reload()
        assert reloaded.exporters["STORESCP"].schedules == night.schedules
        store.remove_exporter("STORESCP")
    assert slapd_upstream.count("(objectClass=dcmExporter)", base=ARC, scope="one") == len(
        seeded.device("dcm4chee-arc").exporters
    ) - 1


def test_import_sample_export_then_load(slapd_upstream: SlapdServer, upstream_dir: Path) -> None:
    sample = upstream_dir / "ldap" / "config" / "sample-export.ldif"
    with _store(slapd_upstream) as store:
        report = store.import_ldif(sample)
        assert report.ok and len(report.added) == 2, str(report)
        loaded = store.load()
    assert loaded == ldif.load([*_config_files(upstream_dir), sample])


def test_remote_ae_added_and_found(slapd_upstream: SlapdServer) -> None:
    with _store(slapd_upstream) as store:
        seed = store.find_remote_ae("STORESCP")
        assert (seed.hostname, seed.port, seed.device_name) == ("localhost", 11117, "storescp")
        store.add_remote_ae("FORWARD_SCP", "127.0.0.1", 11118, device_name="forward-scp")
        remote = store.find_remote_ae("FORWARD_SCP")
        assert (remote.hostname, remote.port, remote.device_name) == ("127.0.0.1", 11118, "forward-scp")
        assert store.load().remote_ae("FORWARD_SCP").port == 11118
        assert store.remove_remote_ae("FORWARD_SCP") == 4
    assert slapd_upstream.count("(dicomAETitle=FORWARD_SCP)") == 0


def test_save_of_a_changed_queue_sends_one_attribute(slapd_upstream: SlapdServer) -> None:
    with _store(slapd_upstream) as store:
        config = store.load()
        queue = config.device("dcm4chee-arc").queue("Export")
        assert queue is not None
        mark = slapd_upstream.log_mark()
        ops = store.save(config.put_queue(attrs.evolve(queue, max_retries=queue.max_retries + 1)))
        assert len(ops) == 1
        assert _mod_attributes(slapd_upstream, mark) == [["dcmMaxRetries"]]
        assert not [op for op in slapd_upstream.operations(since=mark) if op.kind in ("ADD", "DEL")]


def test_coercion_rules_saved_and_loaded_through_ldap(slapd_upstream: SlapdServer) -> None:
    """A dcmArchiveAttributeCoercion2 rule added to an AE goes to slapd with dcm4chee's schema and back."""
    from dcm_exporter.models import AttributeCoercion, CoercionOnFailure

    with _store(slapd_upstream) as store:
        config = store.load()
        arc = config.device("dcm4chee-arc")
        ae = arc.application_entity("DCM4CHEE")
        assert ae is not None and [r.name for r in ae.attribute_coercions][:1] == ["SupplementIssuerOfPatientID"]
        rule = AttributeCoercion(
            name="Research", dimse="C_STORE_RQ", role="SCP", uri="deidentify:RetainUIDsOption", priority=7,
            conditions=["ReceivingApplicationEntityTitle=RESEARCH"], params={"a": "b"}, sufficient=True,
            on_failure=CoercionOnFailure.CONTINUE, merge_attributes=["StudyID="],
        )
        changed_ae = attrs.evolve(ae, attribute_coercions=(*ae.attribute_coercions, rule))
        changed = config.replace_device(
            attrs.evolve(arc, application_entities=tuple(
                changed_ae if a.ae_title == "DCM4CHEE" else a for a in arc.application_entities
            ))
        )
        mark = slapd_upstream.log_mark()
        ops = store.save(changed, since=config)
        assert len(ops) == 1
        assert [op.kind for op in slapd_upstream.operations(since=mark) if op.kind in ("ADD", "MOD", "DEL")] == ["ADD"]
        out = slapd_upstream.ldapsearch("(cn=Research)", base=f"dicomAETitle=DCM4CHEE,{ARC}", scope="one")
        assert "dcmCoercionOnFailure: CONTINUE" in out and "dcmRulePriority: 7" in out
        loaded = store.load().device("dcm4chee-arc").application_entity("DCM4CHEE")
        assert loaded is not None
        *kept, back = loaded.attribute_coercions
        assert kept == list(ae.attribute_coercions)
        assert back.object_classes == ("dcmArchiveAttributeCoercion2",)  # as written
        assert attrs.evolve(back, object_classes=()) == attrs.evolve(rule, ae_title="DCM4CHEE")
