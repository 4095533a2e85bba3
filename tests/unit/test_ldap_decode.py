"""``decode_search_entry`` (the one-pass SearchResultEntry decoder of the LDAP store) against ldap3's decoder.

Messages are BER-encoded here by hand (short and long length forms), decoded by both, and must agree value
for value — type (``str`` / ``bytes``), order and all. Anything unusual must be left to ldap3 (``None``).
"""

from __future__ import annotations

import warnings
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcm_exporter.config.ldap._ber import decode_search_entry, decode_value

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", r"(tag|type)Map is deprecated", DeprecationWarning)
    from ldap3.operation.search import search_result_entry_response_to_dict_fast
    from ldap3.utils.asn1 import decode_message_fast

SETTINGS = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])


def tlv(tag: int, content: bytes, *, long_form: int = 0) -> bytes:
    """One BER element; ``long_form`` > 0 writes the length in that many octets even when short would do."""
    n = len(content)
    if long_form or n > 127:
        count = max(long_form, (n.bit_length() + 7) // 8, 1)
        return bytes([tag, 0x80 | count]) + n.to_bytes(count, "big") + content
    return bytes([tag, n]) + content


def entry_message(
    message_id: int,
    dn: bytes,
    attributes: list[tuple[bytes, list[bytes]]],
    *,
    long_form: int = 0,
    controls: bytes = b"",
) -> bytes:
    lf = long_form
    partial = b"".join(
        tlv(0x30, tlv(0x04, name, long_form=lf) + tlv(0x31, b"".join(tlv(0x04, v, long_form=lf) for v in values),
                                                      long_form=lf), long_form=lf)
        for name, values in attributes
    )
    op = tlv(0x64, tlv(0x04, dn, long_form=lf) + tlv(0x30, partial, long_form=lf), long_form=lf)
    msg_id = message_id.to_bytes((message_id.bit_length() + 8) // 8, "big", signed=True)
    return tlv(0x30, tlv(0x02, msg_id, long_form=lf) + op + controls, long_form=lf)


def ldap3_decode(message: bytes) -> tuple[int, str, list[tuple[str, list[Any]]]]:
    """What ldap3 gives (and the store made of it before): message ID, DN, attributes in order."""
    decoded = decode_message_fast(message)
    assert decoded["protocolOp"] == 4
    entry = search_result_entry_response_to_dict_fast(decoded["payload"], None, None, False)
    raw = entry["raw_attributes"]
    return decoded["messageID"], entry["dn"], [(k, [decode_value(k, v) for v in vs]) for k, vs in raw.items()]


def fast_decode(message: bytes) -> tuple[int, str, list[tuple[str, list[Any]]]] | None:
    got = decode_search_entry(message)
    if got is None:
        return None
    return got[0], got[1], list(got[2].items())


names = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,15}(;(binary|lang-de|x-y))?\Z").map(str.encode)
values = st.one_of(
    st.text(max_size=40).map(str.encode),
    st.binary(max_size=40),
    st.binary(min_size=120, max_size=300),
    st.just(b"\xc3"),
    st.just("é".encode()),
)


@st.composite
def plain_entries(draw: st.DrawFn) -> tuple[int, bytes, list[tuple[bytes, list[bytes]]], int]:
    attrs = draw(st.lists(st.tuples(names, st.lists(values, min_size=1, max_size=4)), max_size=6,
                          unique_by=lambda a: a[0].lower()))
    dn = draw(st.text(max_size=200)).encode()
    return draw(st.integers(1, 2**31 - 1)), dn, attrs, draw(st.sampled_from([0, 0, 1, 2, 3, 4]))


@SETTINGS
@given(plain_entries())
def test_plain_entries_decode_like_ldap3(case: tuple[int, bytes, list[tuple[bytes, list[bytes]]], int]) -> None:
    message_id, dn, attrs, long_form = case
    message = entry_message(message_id, dn, attrs, long_form=long_form)
    assert fast_decode(message) == ldap3_decode(message)


@SETTINGS
@given(plain_entries(), st.data())
def test_truncated_or_padded_messages_are_left_to_ldap3(
    case: tuple[int, bytes, list[tuple[bytes, list[bytes]]], int], data: st.DataObject
) -> None:
    message_id, dn, attrs, long_form = case
    message = entry_message(message_id, dn, attrs, long_form=long_form)
    cut = data.draw(st.integers(0, len(message) - 1))
    assert decode_search_entry(message[:cut]) is None
    assert decode_search_entry(message + b"\x00") is None


def test_unusual_entries_are_left_to_ldap3() -> None:
    ok = [(b"cn", [b"x"])]
    unusual = {
        "controls": entry_message(3, b"cn=x", ok, controls=tlv(0xA0, tlv(0x30, tlv(0x04, b"1.2.3")))),
        "no values": entry_message(3, b"cn=x", [(b"cn", [])]),
        "a name twice": entry_message(3, b"cn=x", [(b"cn", [b"x"]), (b"CN", [b"y"])]),
        "range retrieval": entry_message(3, b"cn=x", [(b"member;range=0-1499", [b"a"])]),
        "DN not UTF-8": entry_message(3, b"cn=\xe9", ok),
        "name not UTF-8": entry_message(3, b"cn=x", [(b"c\xe9", [b"x"])]),
        "indefinite length": bytes([0x30, 0x80]) + entry_message(3, b"cn=x", ok)[2:] + b"\x00\x00",
        "five length octets": tlv(0x30, b"\x02\x01\x03" + tlv(0x64, tlv(0x04, b"cn=x") + tlv(0x30, b""),
                                                                long_form=5)),
        "empty": b"",
    }
    for what, message in unusual.items():
        assert decode_search_entry(message) is None, what
    # ldap3 itself still decodes the ones it can: the store then hands them over (no entry is lost)
    assert ldap3_decode(unusual["DN not UTF-8"])[1] == "cn=é"  # ldap3 tries latin-1 after UTF-8


def test_other_messages_are_not_entries() -> None:
    search_done = tlv(0x30, b"\x02\x01\x05" + tlv(0x65, b"\x0a\x01\x00" + tlv(0x04, b"") + tlv(0x04, b"")))
    bind_response = tlv(0x30, b"\x02\x01\x01" + tlv(0x61, b"\x0a\x01\x00" + tlv(0x04, b"") + tlv(0x04, b"")))
    reference = tlv(0x30, b"\x02\x01\x05" + tlv(0x73, tlv(0x04, b"ldap://127.0.0.1/dc=x")))
    for message in (search_done, bind_response, reference):
        assert decode_search_entry(message) is None


def test_binary_option_and_non_utf8_values_stay_bytes() -> None:
    message = entry_message(
        7,
        "dicomDeviceName=é,cn=Devices".encode(),
        [(b"userCertificate;binary", [b"0\x82\x01", b"abc"]), (b"dcmProperty", [b"a=b", b"\xff\xfe"])],
    )
    got = decode_search_entry(message)
    assert got == (
        7,
        "dicomDeviceName=é,cn=Devices",
        {"userCertificate;binary": [b"0\x82\x01", b"abc"], "dcmProperty": ["a=b", b"\xff\xfe"]},
    )
    assert fast_decode(message) == ldap3_decode(message)


class _FakeConnection:
    """Just what ``_EntrySink`` and ldap3's ``decode_response_fast`` touch, around a real SyncStrategy class."""

    def __init__(self, batches: list[list[bytes]]) -> None:
        from ldap3.strategy.sync import SyncStrategy

        class Server:
            schema = None
            custom_formatter = None

        self.server = Server()
        self.check_names = False
        self.fast_decoder = True
        self.strategy = SyncStrategy.__new__(SyncStrategy)  # no socket: receiving() is replaced below
        self.strategy.connection = self
        self.strategy._outstanding = {3: object()}
        self.batches = list(batches)
        self.strategy.receiving = lambda: self.batches.pop(0) if self.batches else []


def test_entry_sink_keeps_entries_in_order_and_passes_everything_else_on() -> None:
    from dcm_exporter.config.ldap.connection import _EntrySink

    plain = entry_message(3, b"cn=a", [(b"cn", [b"a"])])
    with_controls = entry_message(3, b"cn=b", [(b"cn", [b"b"])], controls=tlv(0xA0, tlv(0x30, tlv(0x04, b"1.2"))))
    ranged = entry_message(3, b"cn=c", [(b"member;range=0-1", [b"x"])])
    after_range = entry_message(3, b"cn=d", [(b"cn", [b"d"])])
    other_id = entry_message(4, b"cn=e", [(b"cn", [b"e"])])
    done = tlv(0x30, b"\x02\x01\x03" + tlv(0x65, b"\x0a\x01\x00" + tlv(0x04, b"") + tlv(0x04, b"")))

    conn = _FakeConnection([[plain, with_controls], [other_id, ranged, after_range], [after_range], [done]])
    sink = _EntrySink.attach(conn)
    assert sink is not None
    sink.collect()
    assert conn.strategy.receiving() == [other_id, ranged, after_range]  # the first batch was all entries
    assert conn.strategy.receiving() == [after_range]  # after a ranged entry ldap3 gets the rest
    assert conn.strategy.receiving() == [done]
    kept = sink.take()
    assert kept[0] == ("cn=a", {"cn": ["a"]})
    assert isinstance(kept[1], dict) and kept[1]["dn"] == "cn=b"  # ldap3 decoded it (controls)
    assert kept[1]["raw_attributes"]["cn"] == [b"b"]
    assert len(kept) == 2

    conn.batches = [[plain], [done]]  # not collecting: everything goes to ldap3
    assert conn.strategy.receiving() == [plain]
    assert sink.take() == []


def test_entry_sink_returns_an_empty_read_as_it_is() -> None:
    from dcm_exporter.config.ldap.connection import _EntrySink

    conn = _FakeConnection([[entry_message(3, b"cn=a", [(b"cn", [b"a"])])], []])
    sink = _EntrySink.attach(conn)
    assert sink is not None
    sink.collect()
    assert conn.strategy.receiving() == []  # the server closed: ldap3 reports it as before
    assert sink.take() == [("cn=a", {"cn": ["a"]})]


def test_docstring_examples_of_the_ldap_helpers_run_as_written() -> None:
    import doctest

    import dcm_exporter.config.ldap._ber as ber
    import dcm_exporter.config.ldap.connection as connection

    attempted = 0
    for module in (ber, connection):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
        assert result.failed == 0
        attempted += result.attempted
    assert attempted >= 2
