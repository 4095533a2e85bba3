"""dcm_exporter.testing: the loopback StoreSCP and the FakeClock (in-process, loopback only)."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from dcm_exporter.sample import StudyInfo, add_compressed_series, generate_study
from dcm_exporter.testing import FakeClock, StoreRequest, StoreSCP

# --- FakeClock ---------------------------------------------------------------------------------


def test_fake_clock_defaults_and_moves() -> None:
    clock = FakeClock()
    start = clock.now()
    assert start == datetime(2024, 1, 1, tzinfo=UTC) and start.tzinfo is UTC
    assert clock.advance(timedelta(hours=2)) == start + timedelta(hours=2)
    assert clock() == clock.now()
    back = clock.set(datetime(2023, 6, 1, 12, tzinfo=timezone(timedelta(hours=2))))
    assert back == datetime(2023, 6, 1, 10, tzinfo=UTC) and back.tzinfo is UTC
    assert "2023-06-01T10:00:00+00:00" in repr(clock)


def test_fake_clock_rejects_naive_and_negative() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(datetime(2024, 1, 1))
    clock = FakeClock()
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="non-negative"):
        clock.advance(timedelta(seconds=-1))


# --- StoreSCP ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> StudyInfo:
    base = generate_study(tmp_path_factory.mktemp("kit"), series=1, instances_per_series=6, kind="small")
    return add_compressed_series(base, ["jpeg2000", "rle"])


def _send(port: int, files: list[Path], *, calling: str = "KITSCU", ssl_context: Any = None) -> list[Any]:
    """C-STORE files on one association; returns each status (or None when no response came)."""
    from pynetdicom import AE

    ae = AE(ae_title=calling)
    ae.dimse_timeout = ae.acse_timeout = ae.network_timeout = 10
    for path in files:
        ds = dcmread(path, stop_before_pixels=True)
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    tls_args = (ssl_context, "localhost") if ssl_context is not None else None
    assoc = ae.associate("127.0.0.1", port, ae_title="STORESCP", tls_args=tls_args)
    assert assoc.is_established
    statuses: list[Any] = []
    try:
        for path in files:
            rsp = assoc.send_c_store(path) if assoc.is_established else None
            if rsp is None or "Status" not in rsp:
                # no response: the association was aborted (pynetdicom may still report it
                # established for a moment, so do not try the next C-STORE on it)
                statuses += [None] * (len(files) - len(statuses))
                break
            statuses.append(rsp.Status)
    finally:
        if assoc.is_established:
            assoc.release()
    return statuses


def test_status_per_instance_and_what_is_written(tmp_path: Path, study: StudyInfo) -> None:
    files = study.files[:6]
    # 0x0107 is a warning by PS3.7 Annex C (the shared rule of dcm_exporter._dicom.status), so it is written
    answers = {files[1]: 0xA700, files[2]: 0xB000, files[3]: 0x0107, files[4]: 0xC000}
    by_uid = {dcmread(p, stop_before_pixels=True).SOPInstanceUID: s for p, s in answers.items()}
    seen: list[StoreRequest] = []

    def decide(request: StoreRequest) -> int:
        seen.append(request)
        return by_uid.get(request.sop_instance_uid, 0x0000)

    with StoreSCP(output_dir=tmp_path, status=decide) as scp:
        statuses = _send(scp.port, files)
        received = scp.received
    assert statuses == [0x0000, 0xA700, 0xB000, 0x0107, 0xC000, 0x0000]
    assert [r.status for r in received] == statuses
    assert [r.index for r in seen] == list(range(6))
    assert all(r.calling_ae_title == "KITSCU" and r.called_ae_title == "STORESCP" for r in received)
    # failures are recorded but not written; successes and warnings are
    assert [r.path is not None for r in received] == [True, False, True, True, False, True]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{r.sop_instance_uid}.dcm" for r in scp.stored
    )


def test_compressed_transfer_syntaxes_are_accepted_and_kept(tmp_path: Path, study: StudyInfo) -> None:
    compressed = [s.instances[0] for s in study.series[1:]]
    with StoreSCP(output_dir=tmp_path) as scp:
        assert _send(scp.port, [i.path for i in compressed]) == [0, 0]
    for inst, rec in zip(compressed, scp.received, strict=True):
        assert rec.transfer_syntax_uid == inst.transfer_syntax_uid
        assert rec.path is not None
        assert dcmread(rec.path).PixelData == dcmread(inst.path).PixelData


def test_count_only_mode_writes_nothing(study: StudyInfo) -> None:
    with StoreSCP(output_dir=None) as scp:
        assert _send(scp.port, study.files[:3]) == [0, 0, 0]
        assert scp.count == 3 and scp.wait_for(3, timeout=1)
        assert all(r.path is None and r.size > 30_000 for r in scp.received)
        assert scp.associations == 1
        scp.clear()
        assert scp.count == 0


def test_abort_after_n_instances(study: StudyInfo) -> None:
    with StoreSCP(output_dir=None, abort_after=2) as scp:
        statuses = _send(scp.port, study.files[:5])
        assert statuses[:2] == [0, 0]
        assert all(s is None for s in statuses[2:])
        assert scp.aborts == 1 and scp.count == 2
        # fires once: the next association goes through
        assert _send(scp.port, study.files[:2]) == [0, 0]
        scp.arm_abort(0)
        assert _send(scp.port, study.files[:1]) == [None]
        assert scp.aborts == 2


def test_slow_peer_delay_still_answers(study: StudyInfo) -> None:
    with StoreSCP(output_dir=None, delay=0.05) as scp:
        assert _send(scp.port, study.files[:2]) == [0, 0]


def test_extra_private_sop_class(tmp_path: Path, study: StudyInfo) -> None:
    private = "1.2.826.0.1.3680043.9.9999.1"
    ds = dcmread(study.files[0])
    ds.SOPClassUID = private
    ds.file_meta.MediaStorageSOPClassUID = private
    path = tmp_path / "private.dcm"
    ds.save_as(path, enforce_file_format=True)
    with StoreSCP(output_dir=None, sop_classes=[private]) as scp:
        assert _send(scp.port, [path]) == [0]
        assert scp.received[0].sop_class_uid == private


def test_tls(tmp_path: Path, study: StudyInfo) -> None:
    from servers.slapd import make_tls

    ca, cert, key = make_tls(tmp_path / "tls")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    with StoreSCP(output_dir=None, ssl_context=server_ctx) as scp:
        assert _send(scp.port, study.files[:2], ssl_context=client_ctx) == [0, 0]
        assert scp.count == 2


def test_arguments_are_checked_and_lifecycle() -> None:
    with pytest.raises(ValueError, match="AE title"):
        StoreSCP("A" * 17)
    with pytest.raises(ValueError, match="delay"):
        StoreSCP(delay=-1)
    with pytest.raises(ValueError, match="abort_after"):
        StoreSCP(abort_after=-1)
    scp = StoreSCP()
    with pytest.raises(RuntimeError, match="not started"):
        _ = scp.port
    scp.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            scp.start()
        assert scp.address == ("127.0.0.1", scp.port)
        assert not scp.wait_for(1, timeout=0.01)
    finally:
        scp.stop()
        scp.stop()


# --- documentation examples run as written -----------------------------------------------------


def test_how_to_page_examples() -> None:
    import doctest

    page = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "test-kit.md"
    result = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 15
    assert result.failed == 0


@pytest.mark.parametrize(
    "module", ["dcm_exporter.sample", "dcm_exporter.testing.clock", "dcm_exporter.testing.scp"]
)
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
