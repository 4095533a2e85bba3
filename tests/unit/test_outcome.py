"""Outcome rules of dcm4chee-arc (reference §3 step 7) applied by OutcomeBuilder; the contract types."""

from __future__ import annotations

import threading
from pathlib import Path

import attrs
import pytest

from dcm_exporter.errors import ExportCanceledError, InstanceMissingError
from dcm_exporter.export import (
    CancelToken,
    ExportRequest,
    InstanceRef,
    InstanceResult,
    Outcome,
    OutcomeBuilder,
    OutcomeRule,
    OutcomeStatus,
    entity_text,
)
from dcm_exporter.models import Configuration, ExporterDescriptor
from dcm_exporter.transports.noop import NoopTransport

STUDY = "1.2.840.1"


def ref(n: int, path: Path | None = None) -> InstanceRef:
    return InstanceRef(
        study_uid=STUDY, series_uid=f"{STUDY}.1", sop_instance_uid=f"{STUDY}.1.{n}",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2", transfer_syntax_uid="1.2.840.10008.1.2.1", size=10,
        path=path or Path(f"/nonexistent/{n}.dcm"),
    )


def builder(rule: OutcomeRule = OutcomeRule.DICOM) -> OutcomeBuilder:
    return OutcomeBuilder(f"Study[uid={STUDY}]", "AE: STORESCP", rule=rule)


def test_status_values_are_the_upstream_names() -> None:
    assert [s.value for s in OutcomeStatus] == ["COMPLETED", "WARNING", "FAILED", "CANCELED"]
    assert OutcomeStatus("FAILED") is OutcomeStatus.FAILED


def test_all_completed_is_completed() -> None:
    b = builder()
    for n in range(3):
        b.completed(ref(n))
    out = b.build()
    assert out.status is OutcomeStatus.COMPLETED
    assert (out.completed, out.warning, out.failed, out.missing, out.remaining) == (3, 0, 0, 0, 0)
    assert out.message == f"Export Study[uid={STUDY}] to AE: STORESCP - completed:3"


def test_warnings_without_failures_are_completed() -> None:
    b = builder()
    b.completed(ref(1))
    b.warning(ref(2), 0xB000)
    b.warning(ref(3), 0xB007)
    out = b.build()
    assert out.status is OutcomeStatus.COMPLETED
    assert out.message == f"Export Study[uid={STUDY}] to AE: STORESCP - completed:1, warning:2"


def test_failures_without_missing_are_warning() -> None:
    b = builder()
    b.completed(ref(1))
    b.failed(ref(2), "Refused: Out of Resources", status_code=0xA700)
    out = b.build()
    assert out.status is OutcomeStatus.WARNING
    assert out.message == f"Export Study[uid={STUDY}] to AE: STORESCP - completed:1, failed:1"
    assert out.failures[0].sop_instance_uid == f"{STUDY}.1.2"
    assert out.failures[0].status_code == 0xA700
    assert out.failures[0].reason == "Refused: Out of Resources"


def test_only_failures_are_still_warning_by_the_dicom_rule() -> None:
    b = builder()
    b.failed(ref(1), "boom")
    assert b.build().status is OutcomeStatus.WARNING


def test_failures_with_missing_are_failed_and_missing_counts_as_failed() -> None:
    b = builder()
    b.completed(ref(1))
    b.warning(ref(2), 0xB006)
    b.failed(ref(3), "boom")
    b.missing(ref(4), "gone")
    out = b.build()
    assert out.status is OutcomeStatus.FAILED
    assert (out.completed, out.warning, out.failed, out.missing) == (1, 1, 2, 1)
    assert out.message == (
        f"Export Study[uid={STUDY}] to AE: STORESCP - completed:1, warning:1, failed:2, missing:1"
    )
    assert [f.missing for f in out.failures] == [False, True]


def test_remaining_is_canceled_whatever_else() -> None:
    b = builder()
    b.completed(ref(1))
    b.missing(ref(2), "gone")
    out = b.build(remaining=3)
    assert out.status is OutcomeStatus.CANCELED
    assert out.remaining == 3
    assert out.message == (
        f"Export Study[uid={STUDY}] to AE: STORESCP canceled - remaining:3, completed:1, failed:1, missing:1"
    )


def test_storage_rule_any_failure_is_failed_and_message_names_completed_and_failed_only() -> None:
    b = builder(OutcomeRule.STORAGE)
    b.completed(ref(1))
    b.failed(ref(2), "disk full")
    out = b.build()
    assert out.status is OutcomeStatus.FAILED
    assert out.message == f"Export Study[uid={STUDY}] to AE: STORESCP - completed:1, failed:1"
    ok = builder(OutcomeRule.STORAGE)
    ok.completed(ref(1))
    assert ok.build().status is OutcomeStatus.COMPLETED


def test_storage_rule_message_leaves_out_warning_and_missing_even_when_there_are_some() -> None:
    # upstream's storage exporter names completed and failed only; the counts stay in the outcome
    b = builder(OutcomeRule.STORAGE)
    b.completed(ref(1))
    b.warning(ref(2), 0xB000)
    b.missing(ref(3), "gone")
    out = b.build()
    assert out.status is OutcomeStatus.FAILED
    assert (out.completed, out.warning, out.failed, out.missing) == (1, 1, 1, 1)
    assert out.message == f"Export Study[uid={STUDY}] to AE: STORESCP - completed:1, failed:1"
    canceled = b.build(remaining=2)
    assert canceled.message == (
        f"Export Study[uid={STUDY}] to AE: STORESCP canceled - remaining:2, completed:1, failed:1"
    )


def test_one_remaining_instance_is_enough_to_be_canceled() -> None:
    for rule in OutcomeRule:
        b = builder(rule)
        b.completed(ref(1))
        out = b.build(remaining=1)
        assert out.status is OutcomeStatus.CANCELED and out.remaining == 1
        assert out.message == (
            f"Export Study[uid={STUDY}] to AE: STORESCP canceled - remaining:1, completed:1"
        )
        assert b.build(remaining=0).status is OutcomeStatus.COMPLETED


def test_one_warning_one_failure_one_missing_each_show() -> None:
    b = builder()
    b.warning(ref(1), 0xB000)
    assert b.build().message == f"Export Study[uid={STUDY}] to AE: STORESCP - completed:0, warning:1"
    b.missing(ref(2), "gone")
    out = b.build()
    assert out.status is OutcomeStatus.FAILED
    assert out.message == (
        f"Export Study[uid={STUDY}] to AE: STORESCP - completed:0, warning:1, failed:1, missing:1"
    )


def test_processed_counts_completed_warning_failed_and_missing() -> None:
    b = builder()
    assert b.processed == 0
    b.completed(ref(1))
    b.warning(ref(2), 0xB000)
    b.failed(ref(3), "boom")
    b.missing(ref(4), "gone")
    assert b.processed == 4  # a missing instance is also a failed one: counted once


def test_bytes_sent_counts_the_sizes_of_completed_and_warning_instances_only() -> None:
    b = builder()
    assert b.build().bytes_sent == 0
    b.completed(ref(1))  # size 10 each
    b.warning(ref(2), 0xB000)
    b.failed(ref(3), "boom")
    b.missing(ref(4), "gone")
    b.completed(attrs.evolve(ref(5), size=0))  # an empty file adds nothing
    b.warning(attrs.evolve(ref(6), size=0), 0xB000)
    assert b.build().bytes_sent == 20
    assert b.build(remaining=3).bytes_sent == 20


def test_negative_remaining_is_refused() -> None:
    with pytest.raises(ValueError, match="remaining"):
        builder().build(remaining=-1)


@pytest.mark.parametrize(
    ("series", "sop", "expected"),
    [
        (None, None, "Study[uid=1.2]"),
        ("*", "*", "Study[uid=1.2]"),
        ("1.2.3", "*", "Series[uid=1.2.3] of Study[uid=1.2]"),
        ("1.2.3", "1.2.3.4", "Instance[uid=1.2.3.4] of Series[uid=1.2.3] of Study[uid=1.2]"),
    ],
)
def test_entity_text_and_nothing_found(series: str | None, sop: str | None, expected: str) -> None:
    assert entity_text("1.2", series, sop) == expected
    out = Outcome.warning_nothing_found("1.2", series, sop)
    assert out.status is OutcomeStatus.WARNING
    assert out.message == f"Could not find {expected}"
    assert out.completed == out.failed == 0


def test_progress_callback_sees_every_instance() -> None:
    seen: list[tuple[str, InstanceResult]] = []
    b = OutcomeBuilder("E", "D", progress=lambda r, res: seen.append((r.sop_instance_uid, res)))
    b.completed(ref(1), status_code=0)
    b.warning(ref(2), 0xB000, "coerced")
    b.failed(ref(3), "bad", 0xC000)
    b.missing(ref(4), "gone")
    assert [res.kind for _, res in seen] == ["completed", "warning", "failed", "missing"]
    assert seen[1][1].status_code == 0xB000 and seen[1][1].reason == "coerced"
    assert seen[2][0] == f"{STUDY}.1.3"


def test_builder_counts_correctly_from_many_threads() -> None:
    b = builder()

    def work(offset: int) -> None:
        for n in range(500):
            (b.completed if n % 2 else b.warning)(ref(offset + n))

    threads = [threading.Thread(target=work, args=(k * 1000,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = b.build()
    assert (out.completed, out.warning, b.processed) == (2000, 2000, 4000)


def test_cancel_token() -> None:
    token = CancelToken()
    token.raise_if_cancelled()
    assert not token.cancelled
    threading.Thread(target=token.cancel).start()
    assert token.wait(5)
    assert token.cancelled
    with pytest.raises(ExportCanceledError):
        token.raise_if_cancelled()


def test_cancel_token_wait_sees_a_cancel_from_before_and_after_the_first_wait() -> None:
    early = CancelToken()
    early.cancel()  # no one waited yet: the token has no Event to set
    assert early.wait(0) and early.wait(None)
    late = CancelToken()
    assert not late.wait(0.01)  # times out: not cancelled
    waiters = [threading.Thread(target=late.wait, args=(5,)) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    late.cancel()
    for waiter in waiters:
        waiter.join(10)
    assert not any(w.is_alive() for w in waiters) and late.cancelled


def test_instance_ref_open_and_missing(tmp_path: Path) -> None:
    f = tmp_path / "x.dcm"
    f.write_bytes(b"abc")
    with ref(1, f).open() as fp:
        assert fp.read() == b"abc"
    f.unlink()
    with pytest.raises(InstanceMissingError, match="vanished"):
        ref(1, f).open()
    opened = InstanceRef(
        study_uid="1", series_uid="2", sop_instance_uid="3", sop_class_uid="4", transfer_syntax_uid="5",
        size=1, opener=lambda: __import__("io").BytesIO(b"z"),
    )
    assert opened.open().read() == b"z"
    with pytest.raises(ValueError, match="path or an opener"):
        InstanceRef(study_uid="1", series_uid="2", sop_instance_uid="3", sop_class_uid="4",
                    transfer_syntax_uid="5", size=1)


def test_noop_transport_completes_with_NOOP() -> None:
    exporter = ExporterDescriptor(exporter_id="N", uri="noop:x", queue_name="Export1")
    request = ExportRequest(exporter=exporter, configuration=Configuration(), study_uid="1.2",
                            series_uid="1.2.3", instances=[ref(1)])
    assert request.entity == "Series[uid=1.2.3] of Study[uid=1.2]"
    with NoopTransport("noop:x") as transport:
        out = transport.send(request)
    assert out.status is OutcomeStatus.COMPLETED
    assert out.message == "NOOP"
    assert transport.closed
