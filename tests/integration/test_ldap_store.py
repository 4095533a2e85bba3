"""LdapConfigStore against a real slapd with the project's compact dcm4che schema."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from dcm_exporter.codecs import ldif
from dcm_exporter.codecs.ldap_mapping import AddEntry, ModifyEntry
from dcm_exporter.config.ldap import LdapConfigStore
from dcm_exporter.errors import (
    ConfigurationError,
    LdapEntryExistsError,
    LdapError,
    LdapNoSuchEntryError,
    LdapSchemaError,
    UnknownAEError,
)
from dcm_exporter.models import (
    ApplicationEntity,
    Connection,
    Device,
    ExporterDescriptor,
    QueueDescriptor,
    TransferCapability,
)
from dcm_exporter.schedule import Schedules
from servers.slapd import INIT_TREE_LDIF, SlapdServer

pytestmark = pytest.mark.slapd

BASE = "dc=dcm4che,dc=org"
DEVICES = f"cn=Devices,cn=DICOM Configuration,{BASE}"
ARC = f"dicomDeviceName=dcm4chee-arc,{DEVICES}"

ARCHIVE_LDIF = f"""\
dn: dicomAETitle=DCM4CHEE,cn=Unique AE Titles Registry,cn=DICOM Configuration,{BASE}
objectClass: dicomUniqueAETitle
dicomAETitle: DCM4CHEE

dn: {ARC}
objectClass: dicomDevice
objectClass: dcmDevice
objectClass: dcmArchiveDevice
dicomDeviceName: dcm4chee-arc
dicomInstalled: TRUE

dn: cn=dicom,{ARC}
objectClass: dicomNetworkConnection
objectClass: dcmNetworkConnection
cn: dicom
dicomHostname: localhost
dicomPort: 11112

dn: dicomAETitle=DCM4CHEE,{ARC}
objectClass: dicomNetworkAE
objectClass: dcmNetworkAE
dicomAETitle: DCM4CHEE
dicomNetworkConnectionReference: cn=dicom,{ARC}
dicomAssociationInitiator: TRUE
dicomAssociationAcceptor: TRUE

dn: dcmQueueName=Export1,{ARC}
objectClass: dcmQueue
dcmQueueName: Export1
dcmMaxRetries: 3
dcmRetryDelay: PT30S
"""

# the init tree below the base entry (what load() reads: cn=DICOM Configuration and below)
INIT_BELOW_BASE = INIT_TREE_LDIF.split("\n\n", 1)[1]

SEED_EXPORTER = ExporterDescriptor(
    exporter_id="STORESCP", uri="dicom:STORESCP", queue_name="Export1", ae_title="DCM4CHEE"
)

SPECIAL = ',+"\\<>;=*()'


@pytest.fixture
def arc(slapd_factory: Callable[..., SlapdServer]) -> SlapdServer:
    """A compact-schema slapd holding an archive device dcm4chee-arc (AE DCM4CHEE, queue Export1)."""
    return slapd_factory(schema="compact", content="init", ldifs=(ARCHIVE_LDIF,))


def _store(server: SlapdServer, **kwargs: Any) -> LdapConfigStore:
    return LdapConfigStore(server.url, server.bind_dn, server.password, server.base_dn, **kwargs)


def _mods(server: SlapdServer, mark: int) -> list[tuple[int, int, list[str]]]:
    """(conn, op, attributes) of each MOD request slapd logged after ``mark``."""
    with server.log_path.open("rb") as fh:
        fh.seek(mark)
        text = fh.read().decode(errors="replace")
    out: dict[tuple[int, int], list[str]] = {}
    for m in re.finditer(r"conn=(\d+) op=(\d+) MOD (dn=|attr=)(.*)", text):
        key = (int(m.group(1)), int(m.group(2)))
        attrs_ = out.setdefault(key, [])
        if m.group(3) == "attr=":
            attrs_.extend(m.group(4).split())
    return [(c, o, a) for (c, o), a in out.items()]


def _writes(server: SlapdServer, mark: int) -> list[str]:
    return [op.kind for op in server.operations(since=mark) if op.kind in ("ADD", "MOD", "DEL", "MODRDN")]


# --- load and import -------------------------------------------------------------------------------------


def test_import_then_load_equals_from_ldif(slapd: SlapdServer) -> None:
    with _store(slapd) as store:
        report = store.import_ldif(ARCHIVE_LDIF, filename="archive.ldif")
        assert report.ok, str(report)
        assert len(report.added) == 5 and report.added[0].line == 1
        mark = slapd.log_mark()
        loaded = store.load()
        searches = slapd.operations("SRCH", since=mark)
    expected = ldif.load(INIT_BELOW_BASE + "\n" + ARCHIVE_LDIF)
    assert loaded == expected
    assert len(searches) == 1 and 'base="cn=DICOM Configuration,dc=dcm4che,dc=org"' in searches[0].detail
    assert loaded.device("dcm4chee-arc").queue("Export1") is not None
    assert store.configuration is loaded


def test_import_reports_rejections_updates_and_change_records(arc: SlapdServer) -> None:
    with _store(arc) as store:
        stopped = store.import_ldif(ARCHIVE_LDIF)
        assert not stopped.ok and not stopped.complete
        assert len(stopped.rejected) == 1 and isinstance(stopped.rejected[0].error, LdapEntryExistsError)
        every = store.import_ldif(ARCHIVE_LDIF, continue_on_error=True)
        assert every.complete and len(every.rejected) == 5

        mark = arc.log_mark()
        changed = ARCHIVE_LDIF.replace("dcmMaxRetries: 3", "dcmMaxRetries: 7")
        update = store.import_ldif(changed, update_existing=True)
        assert update.ok
        assert [r.dn for r in update.changed] == [f"dcmQueueName=Export1,{ARC}"]
        assert update.changed[0].attributes == ("dcmMaxRetries",)
        assert len(update.unchanged) == 4
        assert [a for _, _, a in _mods(arc, mark)] == [["dcmMaxRetries"]]

        changes = f"""\
dn: dcmQueueName=Export1,{ARC}
changetype: modify
replace: dicomDescription
dicomDescription: export queue
-

dn: dcmQueueName=Export2,{ARC}
changetype: add
objectClass: dcmQueue
dcmQueueName: Export2

dn: dcmQueueName=Export2,{ARC}
changetype: delete

dn: dcmQueueName=Missing,{ARC}
changetype: delete
"""
        report = store.import_ldif(changes, continue_on_error=True)
        assert [r.action for r in report.results] == ["changed", "added", "deleted", "rejected"]
        assert isinstance(report.rejected[0].error, LdapNoSuchEntryError)
        assert report.rejected[0].line == 15
        assert "1 changed, 0 unchanged, 1 deleted" in report.summary()
    assert "dicomDescription: export queue" in arc.ldapsearch("(dcmQueueName=Export1)")


# --- exporters and queues --------------------------------------------------------------------------------


def test_seed_exporter_added_read_back_updated_removed(arc: SlapdServer) -> None:
    with _store(arc) as store:
        dn = store.add_exporter(SEED_EXPORTER)
        assert dn == f"dcmExporterID=STORESCP,{ARC}"
        out = arc.ldapsearch("(objectClass=dcmExporter)", base=ARC)
        assert "dcmExporterID: STORESCP" in out and "dcmURI: dicom:STORESCP" in out
        assert "dcmQueueName: Export1" in out and "dicomAETitle: DCM4CHEE" in out

        mark = arc.log_mark()
        sent = store.update_exporter(attrs.evolve(SEED_EXPORTER, description="to the seed's storescp"))
        assert [(m.operation, m.attribute) for m in sent] == [("add", "dicomDescription")]
        mods = _mods(arc, mark)
        assert [a for _, _, a in mods] == [["dicomDescription"]]
        assert _writes(arc, mark) == ["MOD"]

        mark = arc.log_mark()
        assert store.update_exporter(attrs.evolve(SEED_EXPORTER, description="to the seed's storescp")) == ()
        assert _writes(arc, mark) == []

        loaded = store.load().device("dcm4chee-arc").exporter("STORESCP")
        assert loaded is not None and loaded.description == "to the seed's storescp"

        store.remove_exporter("STORESCP")
        assert arc.count("(objectClass=dcmExporter)") == 0
        with pytest.raises(LdapNoSuchEntryError) as info:
            store.remove_exporter("STORESCP")
        assert info.value.dn == dn
        with pytest.raises(LdapNoSuchEntryError):
            store.update_exporter(SEED_EXPORTER)


def test_update_exporter_keeps_unmodelled_attributes_and_deletes_defaults(arc: SlapdServer) -> None:
    with _store(arc) as store:
        store.add_exporter(attrs.evolve(SEED_EXPORTER, export_as_source_ae=True, description="x"))
        mark = arc.log_mark()
        sent = store.update_exporter(SEED_EXPORTER)  # back to defaults: two attributes go
        assert sorted((m.operation, m.attribute) for m in sent) == [
            ("delete", "dcmExportAsSourceAE"), ("delete", "dicomDescription")
        ]
        assert len(_mods(arc, mark)) == 1
    out = arc.ldapsearch("(dcmExporterID=STORESCP)")
    assert "dcmExportAsSourceAE" not in out and "dicomDescription" not in out


def test_add_queue_and_entry_exists(arc: SlapdServer) -> None:
    with _store(arc) as store:
        dn = store.add_queue(QueueDescriptor(queue_name="Export2", max_tasks_parallel=4))
        assert "dcmMaxTasksParallel: 4" in arc.ldapsearch("(dcmQueueName=Export2)")
        with pytest.raises(LdapEntryExistsError) as info:
            store.add_queue(QueueDescriptor(queue_name="Export2"))
        assert info.value.dn == dn and "entryAlreadyExists (68)" in str(info.value)
        sent = store.update_queue(QueueDescriptor(queue_name="Export2", max_tasks_parallel=2))
        assert [m.attribute for m in sent] == ["dcmMaxTasksParallel"]
        store.remove_queue("Export2")
        assert arc.count("(dcmQueueName=Export2)") == 0


def test_cron_schedule_written_to_ldap_warns(arc: SlapdServer, caplog: pytest.LogCaptureFixture) -> None:
    exporter = attrs.evolve(SEED_EXPORTER, schedules=Schedules.parse(["cron:* 18-23 * * 1-5"]))
    with caplog.at_level(logging.WARNING, logger="dcm_exporter"), _store(arc) as store:
        dn = store.add_exporter(exporter)
    warnings = [r for r in caplog.records if "cron" in r.getMessage()]
    assert warnings and getattr(warnings[0], "dn", None) == dn


# --- remote AEs ------------------------------------------------------------------------------------------


def test_remote_ae_added_found_and_removed(arc: SlapdServer) -> None:
    with _store(arc) as store:
        before = arc.count(base=f"cn=DICOM Configuration,{BASE}")
        device = store.add_remote_ae("STORESCP", "127.0.0.1", 11117)
        assert device.device_name == "storescp"
        registry = f"cn=Unique AE Titles Registry,cn=DICOM Configuration,{BASE}"
        assert arc.count("(dicomAETitle=STORESCP)", base=registry) == 1
        mark = arc.log_mark()
        remote = store.find_remote_ae("STORESCP")
        assert len(arc.operations("SRCH", since=mark)) == 3
        assert (remote.hostname, remote.port, remote.device_name, remote.tls) == ("127.0.0.1", 11117, "storescp", False)
        assert store.load().find_ae("STORESCP")[0].device_name == "storescp"

        assert store.remove_remote_ae("STORESCP") == 4  # device, connection, AE, registry entry
        assert arc.count(base=f"cn=DICOM Configuration,{BASE}") == before
        with pytest.raises(UnknownAEError, match="Unknown AE: STORESCP"):
            store.find_remote_ae("STORESCP")


def test_remove_remote_ae_keeps_a_device_that_holds_more(arc: SlapdServer) -> None:
    with _store(arc) as store:
        device = store.add_remote_ae("ONE", "127.0.0.1", 11118, device_name="pacs")
        two = attrs.evolve(device.application_entities[0], ae_title="TWO")
        store.remove_device("pacs")
        store.add_device(attrs.evolve(device, application_entities=(*device.application_entities, two)))
        assert store.remove_remote_ae("ONE") == 2  # the AE entry and its registry entry
        assert store.find_remote_ae("TWO").device_name == "pacs"
        assert store.remove_remote_ae("DCM4CHEE") == 2  # the archive device holds a queue: it stays
    assert arc.count("(dicomDeviceName=dcm4chee-arc)", base=DEVICES, scope="one") == 1
    assert arc.count("(dcmQueueName=Export1)", base=ARC) == 1
    assert arc.count("(objectClass=dicomNetworkAE)", base=ARC) == 0


def test_add_remote_ae_is_all_or_nothing(arc: SlapdServer) -> None:
    root = f"cn=DICOM Configuration,{BASE}"
    before = arc.count(base=root)
    bad_tc = TransferCapability(
        name="CT", sop_class="1.2.840.10008.5.1.4.1.1.2", role="SCP", transfer_syntaxes=("1.2.840.10008.1.2",),
        extra={"dcmNotInAnySchema": ("x",)},
    )
    with _store(arc) as store:
        with pytest.raises(LdapSchemaError) as info:
            store.add_remote_ae("STORESCP", "127.0.0.1", 11117, transfer_capabilities=[bad_tc])
        message = str(info.value)
        assert "failed at entry 5 of 5" in message and "removed the 4 entries added before it" in message
        assert "dcmNotInAnySchema" in message and "cn=CT,dicomAETitle=STORESCP" in (info.value.dn or "")
        assert arc.count(base=root) == before

        with pytest.raises(LdapEntryExistsError, match="registered already"):
            store.add_remote_ae("DCM4CHEE", "127.0.0.1", 11117, device_name="elsewhere")
        assert arc.count(base=root) == before

        store.add_remote_ae("STORESCP", "127.0.0.1", 11117)  # the failed attempt left nothing in the way
        assert store.find_remote_ae("STORESCP").port == 11117


# --- escaping --------------------------------------------------------------------------------------------


def test_special_characters_in_ae_titles_exporter_ids_and_device_names(arc: SlapdServer) -> None:
    aet = f"S{SPECIAL}"
    device_name = f"Gerät {SPECIAL} ü"
    exporter_id = f"E {SPECIAL}"
    with _store(arc) as store:
        store.add_remote_ae(aet, "127.0.0.1", 11117, device_name=device_name, description="Größe")
        remote = store.find_remote_ae(aet)
        assert (remote.ae_title, remote.device_name) == (aet, device_name)

        # the destination: only the specials java.net.URI takes in dcmURI (", \, < and > would make
        # dcm4chee-arc fail to load the device, so the model refuses them)
        destination = "S,+;=*()"
        exporter = ExporterDescriptor(exporter_id=exporter_id, uri=f"dicom:{destination}", queue_name="Export1",
                                      ae_title="DCM4CHEE")
        store.add_exporter(exporter)
        store.update_exporter(attrs.evolve(exporter, description="Überweisung"))
        config = store.load()
        got = config.device("dcm4chee-arc").exporter(exporter_id)
        assert got is not None and got.description == "Überweisung" and got.destination == destination
        assert config.remote_ae(aet).device_name == device_name
        assert config.device(device_name).description == "Größe"

        store.remove_exporter(exporter_id)
        assert store.remove_remote_ae(aet) == 4
    assert arc.count("(objectClass=dicomDevice)", base=DEVICES) == 1  # only the archive device is left
    assert arc.count("(objectClass=dicomUniqueAETitle)") == 1


@pytest.mark.parametrize(
    "attack",
    ["*", "STORE*", "STORESCP)(dicomAETitle=*", "*)(|(objectClass=*", "STORESCP\\", "STORESCP\x00", "(STORESCP)"],
)
def test_filter_injection_finds_nothing(arc: SlapdServer, attack: str) -> None:
    with _store(arc) as store:
        store.add_remote_ae("STORESCP", "127.0.0.1", 11117)
        with pytest.raises(UnknownAEError):
            store.find_remote_ae(attack)
        with pytest.raises(UnknownAEError):
            store.remove_remote_ae(attack)
        assert store.find_remote_ae("STORESCP").port == 11117


def test_non_ascii_ae_title_is_refused_clearly_and_leaves_nothing(arc: SlapdServer) -> None:
    root = f"cn=DICOM Configuration,{BASE}"
    before = arc.count(base=root)
    with _store(arc) as store, pytest.raises(LdapError) as info:
        store.add_remote_ae("ÄRZTE", "127.0.0.1", 11117, device_name="aerzte")
    assert "ASCII only" in str(info.value) and "dicomAETitle=ÄRZTE" in (info.value.dn or "")
    assert arc.count(base=root) == before


# --- save and reload -------------------------------------------------------------------------------------


def test_save_sends_only_what_changed(arc: SlapdServer) -> None:
    with _store(arc) as store:
        loaded = store.load()
        mark = arc.log_mark()
        assert store.save(loaded) == ()
        assert _writes(arc, mark) == []

        with_exporter = loaded.put_exporter(SEED_EXPORTER)
        ops = store.save(with_exporter)
        assert [type(op) for op in ops] == [AddEntry]
        # a new model has no object classes yet; read back it has the one it was written with
        assert store.load() == with_exporter.put_exporter(attrs.evolve(SEED_EXPORTER, object_classes=("dcmExporter",)))

        queue = with_exporter.device("dcm4chee-arc").queue("Export1")
        assert queue is not None
        changed = with_exporter.put_queue(attrs.evolve(queue, max_retries=10))
        mark = arc.log_mark()
        ops = store.save(changed)
        assert len(ops) == 1 and isinstance(ops[0], ModifyEntry)
        assert [a for _, _, a in _mods(arc, mark)] == [["dcmMaxRetries"]]
        assert _writes(arc, mark) == ["MOD"]

        removed = changed.remove_exporter("STORESCP")
        ops = store.save(removed)
        assert [op.dn for op in ops] == [f"dcmExporterID=STORESCP,{ARC}"]
        assert store.load() == removed


def test_save_since_keeps_what_others_changed(arc: SlapdServer) -> None:
    with _store(arc) as store:
        mine = store.load()
        arc.ldapmodify(f"dn: {ARC}\nchangetype: modify\nreplace: dicomDescription\ndicomDescription: by someone else\n")
        queue = mine.device("dcm4chee-arc").queue("Export1")
        assert queue is not None
        store.save(mine.put_queue(attrs.evolve(queue, max_retries=5)), since=mine)
        now = store.reload()
    assert now.device("dcm4chee-arc").description == "by someone else"
    q = now.device("dcm4chee-arc").queue("Export1")
    assert q is not None and q.max_retries == 5


def _entries(dump: str) -> set[tuple[str, ...]]:
    """ldapsearch output as a set of entries, each its sorted lines."""
    return {tuple(sorted(block.splitlines())) for block in dump.strip().split("\n\n")}


def test_a_refused_save_undoes_what_it_applied_before(arc: SlapdServer) -> None:
    """A save whose last operation the server refuses leaves the tree as it was, and says so."""
    root = f"cn=DICOM Configuration,{BASE}"
    with _store(arc) as store:
        with_exporter = store.load().put_exporter(SEED_EXPORTER)
        store.save(with_exporter)
        dump_before = arc.ldapsearch("(objectClass=*)", base=root)
        queue = with_exporter.device("dcm4chee-arc").queue("Export1")
        assert queue is not None
        wanted = (
            with_exporter.put_queue(attrs.evolve(queue, max_retries=10))  # a modify (applied)
            .remove_exporter("STORESCP")  # a delete (applied)
            .add_device(  # adds: a registry entry, a device, its connection and its AE, which slapd refuses
                Device(
                    device_name="aerzte",
                    connections=(Connection(name="dicom", hostname="127.0.0.1", port=11117),),
                    application_entities=(ApplicationEntity(ae_title="ÄRZTE", connection_refs=("dicom",)),),
                )
            )
        )
        mark = arc.log_mark()
        with pytest.raises(LdapError) as info:
            store.save(wanted)
        message = str(info.value)
        assert re.search(r"save stopped at operation \d+ of \d+ \(add\)", message), message
        assert "were undone" in message and "ASCII only" in message
        assert "MOD" in _writes(arc, mark) and "DEL" in _writes(arc, mark)  # it had really written them
        # the same entries with the same values (a replace may move an attribute to the end of its entry)
        assert _entries(arc.ldapsearch("(objectClass=*)", base=root)) == _entries(dump_before)
        assert store.load() == store.reload()
        assert store.load().exporters.keys() == {"STORESCP"}


def test_reload_picks_up_changes_of_others_as_a_new_object(arc: SlapdServer) -> None:
    with _store(arc) as store:
        first = store.load()
        arc.ldapmodify(
            f"dn: dcmQueueName=Export1,{ARC}\nchangetype: modify\nreplace: dcmMaxRetries\ndcmMaxRetries: 9\n"
        )
        second = store.reload()
    assert second is not first and second != first
    q1, q2 = first.device("dcm4chee-arc").queue("Export1"), second.device("dcm4chee-arc").queue("Export1")
    assert q1 is not None and q2 is not None
    assert (q1.max_retries, q2.max_retries) == (3, 9)
    assert store.configuration is second


def test_store_reopens_after_close_and_counts_round_trips(arc: SlapdServer) -> None:
    store = _store(arc)
    assert "open=False" in repr(store)
    store.load()  # opens lazily: bind + one search page
    assert store.round_trips == 2
    store.close()
    store.load()
    assert store.round_trips == 4
    store.close()


def test_a_dcm_uri_dcm4chee_cannot_parse_is_read_with_a_warning_and_never_written(
    arc: SlapdServer, caplog: pytest.LogCaptureFixture
) -> None:
    # dcm4chee-arc fails to load the whole device on `dcmURI: noop:`; someone else wrote it, we must not
    arc.ldapadd(f"dn: dcmExporterID=NOOP,{ARC}\nobjectClass: dcmExporter\ndcmExporterID: NOOP\n"
                "dcmURI: noop:\ndcmQueueName: Export1\n")
    with _store(arc) as store:
        with caplog.at_level(logging.WARNING, logger="dcm_exporter.codecs"):
            found = store.load().device("dcm4chee-arc").exporter("NOOP")
        assert found is not None and found.uri_problem is not None
        assert any(f"dcmExporterID=NOOP,{ARC}" in r.getMessage() for r in caplog.records)
        with pytest.raises(ConfigurationError, match="Expected scheme-specific part"):
            attrs.evolve(found, exporter_id="NOOP2")  # a copy is a new model: validated, refused
        with pytest.raises(ConfigurationError, match="not a URI dcm4chee-arc-light can read"):
            store.update_exporter(found)
    assert arc.count("(dcmURI=noop:)") == 1  # left as found


def test_coercion_rules_in_the_compact_schema(arc: SlapdServer) -> None:
    """dcmArchiveAttributeCoercion2 is in dcm_exporter's compact schema: rules are saved, changed and removed."""
    from dcm_exporter.models import AttributeCoercion

    rule = AttributeCoercion(
        name="Research", dimse="C_STORE_RQ", role="SCP", uri="deidentify:", priority=2,
        conditions=["ReceivingApplicationEntityTitle=RESEARCH"], sop_classes=["1.2.840.10008.5.1.4.1.1.2"],
        merge_attributes=["StudyID="], params={"x": "1"}, sufficient=True, on_failure="CONTINUE",
        supplement_from_device=ARC,
    )
    with _store(arc) as store:
        loaded = store.load()
        device = loaded.device("dcm4chee-arc")
        with_rule = loaded.replace_device(attrs.evolve(device, attribute_coercions=[rule]))
        store.save(with_rule)
        written = attrs.evolve(rule, object_classes=("dcmArchiveAttributeCoercion2",))
        assert store.load().device("dcm4chee-arc").attribute_coercions == (written,)
        mark = arc.log_mark()
        higher = attrs.evolve(written, priority=3)
        store.save(with_rule.replace_device(attrs.evolve(device, attribute_coercions=[higher])))
        assert [a for _, _, a in _mods(arc, mark)] == [["dcmRulePriority"]]
        store.save(loaded)
        assert store.load().device("dcm4chee-arc").attribute_coercions == ()
