"""The fast paths of the LDAP mapping give exactly what the general code gives.

DN parsing, RDN escaping and DN normalisation have a fast path for the common case (no escapes, nothing to
escape); these property tests hold the fast paths to the general, character-by-character code — same
result, or the same error message.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcm_exporter.codecs.ldap_mapping.assembly import _normal_forms
from dcm_exporter.dn import (
    _parse_dn_general,
    escape_rdn_value,
    normalize_dn,
    normalized_rdns,
    parent_dn,
    parse_dn,
)
from dcm_exporter.errors import ConfigurationError

SETTINGS = settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])

# DN-ish text: mostly the characters that matter to RFC 4514, some letters and non-ASCII
dn_text = st.text(alphabet=st.sampled_from(list(",;+= \\#\"<>\x00\tabcAB01fé")), max_size=40)
plain_dn_text = st.text(alphabet=st.sampled_from(list(",;+= #\"<>\x00\tabcAB01é")), max_size=40)
well_formed = st.lists(
    st.lists(
        st.tuples(
            st.sampled_from(["cn", "dicomDeviceName", " dcmQueueName", "dicomAETitle ", "O"]),
            st.text(max_size=12),
        ),
        min_size=1,
        max_size=3,
    ),
    min_size=1,
    max_size=5,
)


def _outcome(fn: object, dn: str) -> object:
    try:
        return ("ok", fn(dn))  # type: ignore[operator]
    except ConfigurationError as exc:
        return ("error", str(exc))


def _escape_reference(value: str) -> str:
    """RFC 4514 escaping, one character at a time (the general code the fast path must match)."""
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;=' or ch == "\x00":
            out.append("\\" + ch if ch != "\x00" else "\\00")
        elif (i == 0 and ch in " #") or (i == len(value) - 1 and ch == " "):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


@SETTINGS
@given(st.one_of(dn_text, plain_dn_text))
def test_parse_dn_fast_path_agrees_with_the_general_parser(dn: str) -> None:
    if not dn.strip():
        assert parse_dn(dn) == []
        return
    assert _outcome(parse_dn, dn) == _outcome(_parse_dn_general, dn)


@SETTINGS
@given(well_formed)
def test_parse_dn_of_joined_rdns_agrees_with_the_general_parser(rdns: list[list[tuple[str, str]]]) -> None:
    dn = ",".join("+".join(f"{a}={escape_rdn_value(v)}" for a, v in rdn) for rdn in rdns)
    assert _outcome(parse_dn, dn) == _outcome(_parse_dn_general, dn)


@SETTINGS
@given(st.one_of(st.text(max_size=30), st.text(alphabet=st.sampled_from(list(',+"\\<>;= #\x00ab')), max_size=12)))
def test_escape_rdn_value_matches_the_reference_and_round_trips(value: str) -> None:
    escaped = escape_rdn_value(value)
    assert escaped == _escape_reference(value)
    assert parse_dn(f"cn={escaped}") == [[("cn", value)]]


@SETTINGS
@given(st.one_of(dn_text, well_formed.map(lambda r: ",".join("+".join(f"{a}={escape_rdn_value(v)}" for a, v in x)
                                                              for x in r))))
def test_one_parse_gives_the_dn_and_parent_normal_forms(dn: str) -> None:
    """``configuration_from_entries`` normalises a DN and its parent from one parse."""
    try:
        parts = normalized_rdns(parse_dn(dn))
    except ConfigurationError:
        with pytest.raises(ConfigurationError):
            parent_dn(dn)
        return
    assert ",".join(parts) == normalize_dn(dn)
    assert ",".join(parts[1:]) == normalize_dn(parent_dn(dn))


def _forms_by_full_parse(dn: str) -> tuple[str, str, list[tuple[str, str]]]:
    rdns = _parse_dn_general(dn) if dn.strip() else []
    parts = normalized_rdns(rdns)
    return ",".join(parts), ",".join(parts[1:]), rdns[0] if rdns else []


@SETTINGS
@given(st.lists(st.one_of(dn_text, plain_dn_text, st.sampled_from(["cn=a", "cn=b,cn=a", "cn=a;x=y", "cn=a+"])),
                max_size=8))
def test_normal_forms_with_the_parent_shortcut_agree_with_a_full_parse(tails: list[str]) -> None:
    """``_normal_forms`` reuses the normal form of a parent seen before; the answer is the full parse's."""
    seen: dict[str, str] = {}
    dns: list[str] = []
    for tail in tails:  # each DN is a new RDN on top of the previous one (or of a random text)
        dns.append(tail)
        if dns[:-1]:
            dns.append(f"cn={tail.replace(',', '')},{dns[-2]}")
    for dn in dns:
        assert _outcome(lambda d: _normal_forms(d, seen), dn) == _outcome(_forms_by_full_parse, dn)


UPSTREAM = Path(__file__).resolve().parents[3] / "shared" / "dcm4che" / "ldap" / "config" / "default-config.ldif"


def test_every_upstream_dn_takes_the_same_parse() -> None:
    if not UPSTREAM.is_file():
        pytest.skip(f"{UPSTREAM} is absent (the upstream dcm4che files are not next to the repo)")
    from dcm_exporter.codecs.ldif import LdifEntry, iter_ldif

    dns = [r.dn for r in iter_ldif(UPSTREAM) if isinstance(r, LdifEntry)]
    assert len(dns) > 1000
    for dn in dns:
        assert parse_dn(dn) == _parse_dn_general(dn), dn
        assert normalize_dn(dn) == ",".join(normalized_rdns(_parse_dn_general(dn)))


def test_two_builds_are_equal_and_independent_of_each_other_and_of_the_input() -> None:
    """Nothing is cached across calls, and no list of the caller's entries ends up inside a model."""
    import copy

    from dcm_exporter.codecs.ldap_mapping import configuration_from_entries, device_dn

    ddn = device_dn("dev")
    entries: list[tuple[str, dict[str, list[str | bytes]]]] = [
        (ddn, {"objectClass": ["dicomDevice"], "dicomDeviceName": ["dev"], "dicomInstalled": ["TRUE"]}),
        (f"cn=dicom,{ddn}", {"objectClass": ["dicomNetworkConnection"], "cn": ["dicom"],
                             "dicomHostname": ["localhost"], "dicomPort": ["104"]}),
        (f"dicomAETitle=DEV,{ddn}", {"objectClass": ["dicomNetworkAE"], "dicomAETitle": ["DEV"],
                                     "dicomNetworkConnectionReference": [f"cn=dicom,{ddn}"],
                                     "dicomAssociationInitiator": ["TRUE"], "dicomAssociationAcceptor": ["TRUE"],
                                     "dcmOtherAETitle": ["A", "B"], "dcmUnknown": ["kept"]}),
        (f"cn=CT,dicomAETitle=DEV,{ddn}", {"objectClass": ["dicomTransferCapability"], "cn": ["CT"],
                                          "dicomSOPClass": ["1.2.840.10008.5.1.4.1.1.2"],
                                          "dicomTransferRole": ["SCP"],
                                          "dicomTransferSyntax": ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"]}),
    ]
    pristine = copy.deepcopy(entries)
    first = configuration_from_entries(entries)
    second = configuration_from_entries(entries)
    assert first == second and first is not second
    assert first.devices[0] is not second.devices[0]
    for _, attributes in entries:  # the caller changes its lists afterwards
        for values in attributes.values():
            values.append("changed")
    assert first == configuration_from_entries(pristine)
    ae = first.devices[0].application_entities[0]
    assert ae.other_ae_titles == ("A", "B") and ae.extra == {"dcmUnknown": ("kept",)}
    assert ae.transfer_capabilities[0].transfer_syntaxes == ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")
