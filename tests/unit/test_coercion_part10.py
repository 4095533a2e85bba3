"""``deidentify:`` on Part 10 bytes gives exactly what the pydicom path gives, and leaves what it cannot copy to it.

:meth:`CoercionPlan.coerce_file` de-identifies most objects without pydicom's decode and encode
(:mod:`dcm_exporter.coercion._part10_deident`); every object of a varied corpus (see ``_deid_corpus``) is
compared here with the generic path (:meth:`CoercionPlan._coerce_dataset`), field by field and byte for byte.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator

import pytest

from _deid_corpus import corpus
from dcm_exporter.coercion import CoercionPlan
from dcm_exporter.coercion._part10_deident import MAX_DEPTH
from dcm_exporter.coercion.engine import _Rule
from dcm_exporter.coercion.registry import default_registry
from dcm_exporter.errors import CoercionError
from dcm_exporter.models import AttributeCoercion

pytest.importorskip("pydicom")

OPTIONS = [
    "",
    "RetainUIDsOption",
    "RetainLongitudinalTemporalInformationFullDatesOption,RetainDeviceIdentityOption,RetainInstitutionIdentityOption",
    "RetainPatientIDHashOption",
]

#: shapes the bytes path must take (it would be no test if every object fell back to pydicom)
TAKEN = [
    "test_files/CT_small.dcm",  # explicit VR, private tags, native pixel data
    "test_files/MR_small_implicit.dcm",  # implicit VR
    "test_files/JPEG2000.dcm",  # encapsulated
    "test_files/SC_rgb_rle_2frame.dcm",  # multi-frame, encapsulated
    "test_files/rtplan.dcm",  # nested sequences
    "test_files/reportsi.dcm",  # SR content tree
    "charset_files/chrH31.dcm",  # a Specific Character Set pydicom writes again
    "variant/sequences_undefined",
    "variant/sequences_undefined_implicit",
    "variant/already_deidentified",
    "variant/already_deidentified_undefined",
    "variant/uids_curves_padding",
    "variant/odd_and_un",
    "variant/issuer",
]


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return dict(corpus())


def _plan(uri: str = "deidentify:", *rules: AttributeCoercion) -> CoercionPlan:
    chosen = rules or (AttributeCoercion(name="R", dimse="C_STORE_RQ", role="SCP", uri=uri),)
    return CoercionPlan(
        [_Rule(r, default_registry.get(r.scheme), ()) for r in chosen], [], sending_ae_title="A", receiving_ae_title="B"
    )


def _generic(plan: CoercionPlan, blob: bytes, target: str | None = None) -> object:
    try:
        return plan._coerce_dataset(io.BytesIO(blob), target_transfer_syntax=target, name="x")
    except CoercionError as exc:
        return exc


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("options", OPTIONS)
def test_bytes_path_equals_pydicom_path(files: dict[str, bytes], options: str) -> None:
    plan = _plan(f"deidentify:{options}")
    taken = []
    for name, blob in files.items():
        fast = plan._coerce_bytes(blob, None)
        if fast is None:
            continue
        taken.append(name)
        generic = _generic(plan, blob)
        assert fast == generic, name  # attrs equality: part10 bytes, offset, UIDs, syntax, rules applied
    missing = [n for n in TAKEN if n not in taken]
    assert not missing, f"the bytes path no longer takes {missing}"
    assert len(taken) > len(files) // 2


@pytest.mark.filterwarnings("ignore")
def test_coerce_file_gives_the_pydicom_result_for_every_file(files: dict[str, bytes]) -> None:
    plan = _plan()
    for name, blob in files.items():
        for target in (None, "1.2.840.10008.1.2", "1.2.840.10008.1.2.1"):
            try:
                got: object = plan.coerce_file(io.BytesIO(blob), target_transfer_syntax=target, name="x")
            except CoercionError as exc:
                got = exc
            want = _generic(plan, blob, target)
            if isinstance(want, CoercionError):
                assert isinstance(got, CoercionError) and str(got) == str(want), (name, target)
            else:
                assert got == want, (name, target)


def test_a_change_of_syntax_or_pydicom_settings_goes_to_pydicom(files: dict[str, bytes]) -> None:
    from pydicom import config

    plan = _plan()
    blob = files["test_files/CT_small.dcm"]
    assert plan._coerce_bytes(blob, None) is not None
    assert plan._coerce_bytes(blob, "1.2.840.10008.1.2") is None
    saved = config.replace_un_with_known_vr
    config.replace_un_with_known_vr = False
    try:
        assert plan._coerce_bytes(blob, None) is None
    finally:
        config.replace_un_with_known_vr = saved


def test_only_a_lone_deidentify_rule_without_data_set_conditions_takes_the_bytes_path(
    files: dict[str, bytes],
) -> None:
    from dcm_exporter.conditions import parse_conditions

    blob = files["test_files/CT_small.dcm"]  # CT Image Storage
    ct = "1.2.840.10008.5.1.4.1.1.2"
    rule = AttributeCoercion(name="D", dimse="C_STORE_RQ", role="SCP", uri="deidentify:")
    assert _plan("deidentify:")._coerce_bytes(blob, None) is not None
    for_ct = AttributeCoercion(name="D", dimse="C_STORE_RQ", role="SCP", uri="deidentify:", sop_classes=[ct])
    assert _plan("", for_ct)._coerce_bytes(blob, None) is not None
    for_mr = AttributeCoercion(name="D", dimse="C_STORE_RQ", role="SCP", uri="deidentify:", sop_classes=["1.2.3"])
    assert _plan("", for_mr)._coerce_bytes(blob, None) is None  # no rule applies: the generic path says so
    twice = AttributeCoercion(name="D2", dimse="C_STORE_RQ", role="SCP", uri="deidentify:RetainUIDsOption")
    assert _plan("", rule, twice)._coerce_bytes(blob, None) is None
    then_merge = AttributeCoercion(name="M", dimse="C_STORE_RQ", role="SCP", uri="merge-attrs:")
    assert _plan("", rule, then_merge)._coerce_bytes(blob, None) is None
    sufficient = AttributeCoercion(name="S", dimse="C_STORE_RQ", role="SCP", uri="deidentify:", sufficient=True)
    assert _plan("", sufficient, then_merge)._coerce_bytes(blob, None) is not None
    predicates = tuple(c.compile() for c in parse_conditions(["Modality=CT"])[0])
    conditional = CoercionPlan(
        [_Rule(rule, default_registry.get("deidentify"), predicates)], [], sending_ae_title="A", receiving_ae_title="B"
    )
    assert conditional._coerce_bytes(blob, None) is None
    assert conditional.coerce_file(io.BytesIO(blob)) == _plan("", rule)._coerce_bytes(blob, None)


def _explicit(tag: int, vr: bytes, value: bytes, *, length: int | None = None) -> bytes:
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr
    n = len(value) if length is None else length
    if vr in (b"OB", b"SQ", b"UN", b"UT", b"OW"):
        return head + b"\x00\x00" + struct.pack("<I", n) + value
    return head + struct.pack("<H", n) + value


def _part10(body: bytes) -> bytes:
    meta = b"".join(
        [
            _explicit(0x00020001, b"OB", b"\x00\x01"),
            _explicit(0x00020002, b"UI", b"1.2.840.10008.5.1.4.1.1.7\x00"),
            _explicit(0x00020003, b"UI", b"1.2.3.4"),
            _explicit(0x00020010, b"UI", b"1.2.840.10008.1.2.1\x00"),
        ]
    )
    head = _explicit(0x00020000, b"UL", struct.pack("<I", len(meta)))
    top = _explicit(0x00080016, b"UI", b"1.2.840.10008.5.1.4.1.1.7\x00") + _explicit(0x00080018, b"UI", b"1.2.3.4\x00")
    return b"\x00" * 128 + b"DICM" + head + meta + top + body


def _nested(depth: int) -> Iterator[bytes]:
    """An undefined-length sequence of one item, ``depth`` times inside itself."""
    open_ = b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff\xfe\xff\x00\xe0\xff\xff\xff\xff"  # (0008,1115)
    close = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    yield open_ * depth
    yield close * depth


def test_hostile_shapes_go_to_pydicom_quickly() -> None:
    plan = _plan()
    ok = _part10(_explicit(0x00100010, b"PN", b"Doe^John"))
    assert plan._coerce_bytes(ok, None) is not None
    hostile = {
        "nesting deeper than the limit": _part10(b"".join(_nested(MAX_DEPTH + 5))),
        "a 4 GB value declared": _part10(_explicit(0x00081030, b"UT", b"x", length=0xFFFFFFF0)),
        "a value past the end": _part10(_explicit(0x00100010, b"PN", b"Doe^John", length=400)),
        "a header cut short": _part10(b"\x10\x00\x10\x00PN"),
        "an unknown VR": _part10(_explicit(0x00100010, b"XX", b"Doe^John")),
        "an item where an element belongs": _part10(_explicit(0xFFFEE000, b"OB", b"")),
        "an undefined-length sequence without its end": _part10(next(_nested(3))),
    }
    for why, blob in hostile.items():
        assert plan._coerce_bytes(blob, None) is None, why
    within = _part10(b"".join(_nested(MAX_DEPTH - 2)))
    assert plan._coerce_bytes(within, None) == _generic(plan, within)


def test_sequences_nested_hundreds_deep_fail_the_instance_with_a_reason() -> None:
    blob = _part10(b"".join(_nested(2000)))  # pydicom reads sequences by recursion
    with pytest.raises(CoercionError, match="cannot read the stored file"):
        _plan().coerce_file(io.BytesIO(blob), name="x")


def test_a_stream_that_cannot_be_read_fails_the_instance_with_a_reason() -> None:
    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError("input/output error")

    with pytest.raises(CoercionError, match=r"x: cannot read the stored file.*input/output error"):
        _plan().coerce_file(Broken(), name="x")


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("implicit", [False, True])
def test_burned_in_annotation_yes_is_left_to_the_pydicom_path_which_refuses_it(
    files: dict[str, bytes], implicit: bool
) -> None:
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    plan = _plan()
    ds = pydicom.dcmread(io.BytesIO(files["test_files/CT_small.dcm"]))
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    for flag, taken in (("NO", True), ("YES", False), ("yes ", False)):
        ds.BurnedInAnnotation = flag
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True, implicit_vr=implicit)
        blob = out.getvalue()
        assert (plan._coerce_bytes(blob, None) is not None) is taken, flag  # "NO": no slower for the flag
        if taken:
            assert plan.coerce_file(io.BytesIO(blob)) == _generic(plan, blob)
        else:
            with pytest.raises(CoercionError, match=r"Burned In Annotation \(0028,0301\) is YES"):
                plan.coerce_file(io.BytesIO(blob))
