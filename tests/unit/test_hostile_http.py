"""Hostile DICOMweb servers (issue 18, item 9) for the stow: and wado: transports: raw sockets on 127.0.0.1
that trickle, flood, declare DTDs in UTF-16 or answer 200 with bodies no parser can read. Every server stops
by itself (a bounded number of bytes, a bounded time) and the tests are bounded by a timeout marker; no
timing is asserted."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from _helpers import write_ct_study
from dcm_exporter.errors import TransportError, TransportTimeoutError
from dcm_exporter.export import ExportRequest, InstanceRef, OutcomeStatus
from dcm_exporter.models import Configuration, ExporterDescriptor
from dcm_exporter.transports._http import HttpSettings, build_client, fetch
from dcm_exporter.transports._multipart import ResponseParseError, parse_store_response
from dcm_exporter.transports.stow import StowSettings, StowTransport

pytest.importorskip("httpx")
pytest.importorskip("defusedxml")
pytestmark = pytest.mark.timeout(60)

Handler = Callable[[socket.socket], None]


def _read_request(conn: socket.socket) -> str:
    """Read one HTTP request (headers, then a Content-Length body) so that the client's upload finishes; its
    target (the path), ``""`` when the client hung up before the end of the headers."""
    conn.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return ""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head.split(b" ", 2)[1].decode()


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """Start a one-connection-at-a-time server running ``handler`` per connection; yields its URL."""
    stops: list[Callable[[], None]] = []

    def start(handler: Handler, rcvbuf: int | None = None) -> str:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before listen(): the accepted sockets inherit it, window scaling included
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                with conn:
                    try:
                        handler(conn)
                    except OSError:
                        pass  # the client gave up: what these servers are for

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()

        def close() -> None:
            stop.set()
            listener.close()
            thread.join(5)

        stops.append(close)
        return f"http://127.0.0.1:{listener.getsockname()[1]}/dicom-web/studies"

    yield start
    for close in stops:
        close()


def _trickle(conn: socket.socket, data: bytes, every: float, stop_after: float = 60.0) -> None:
    end = time.monotonic() + stop_after
    for byte in data:
        if time.monotonic() > end:
            return
        conn.sendall(bytes([byte]))
        time.sleep(every)


def _answer(status: str, body: bytes, content_type: str = "application/dicom+json") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


EXPORTER = ExporterDescriptor(exporter_id="STOW", uri="stow:x", queue_name="Export1")


def _stow(url: str, **settings: object) -> StowTransport:
    return StowTransport(StowSettings(destination=url, url=url, **settings))  # type: ignore[arg-type]


def _request(refs: list[InstanceRef]) -> ExportRequest:
    return ExportRequest(exporter=EXPORTER, configuration=Configuration(), study_uid=refs[0].study_uid,
                         instances=refs)


@pytest.fixture
def refs(tmp_path: Path) -> list[InstanceRef]:
    return write_ct_study(tmp_path / "study", per_series=2)


# --- a total deadline per request --------------------------------------------------------------------------
# request-timeout is 2 s and read-timeout far longer: each peer answers every wait well within read-timeout
# (or is waited on for no longer than it), so only the whole-request deadline can end these requests before
# the guard (a pytest timeout shorter than read-timeout and than the peers' own end) fails the test.

READ_TIMEOUT = 120.0
GUARD = pytest.mark.timeout(30)


def _hold(conn: socket.socket, seconds: float = 60.0) -> None:
    """Keep the connection open without a word until the client hangs up (or ``seconds`` pass)."""
    conn.settimeout(0.2)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if not conn.recv(65536):
                return
        except TimeoutError:
            continue


def _read_slowly(conn: socket.socket, done: threading.Event, every: float = 0.3, seconds: float = 60.0) -> None:
    """Read the request's headers, then its body one byte every ``every`` seconds until ``done``: back-pressure
    on the upload (the listening socket's small receive buffer keeps the kernel from reading ahead for us;
    the client's hang-up cannot be seen behind the bytes still queued, hence ``done``)."""
    conn.settimeout(10)
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = conn.recv(1)
        if not byte:
            return
        head += byte
    end = time.monotonic() + seconds
    while time.monotonic() < end and not done.wait(every) and conn.recv(1):
        pass


def _head_trickled(conn: socket.socket) -> None:
    """The status line and headers of a 200, one byte a second (each well within read-timeout)."""
    _read_request(conn)
    _trickle(conn, b"HTTP/1.1 200 OK\r\nX-Padding: " + b"x" * 1000 + b"\r\n\r\n", 1.0)


def _never_answered(conn: socket.socket) -> None:
    _read_request(conn)
    _hold(conn)


DEADLINE = r"within the request timeout of 2 s"


def _expect_deadline(transport: StowTransport, refs: list[InstanceRef]) -> None:
    """The export fails as a whole, retryable, with the request timeout named."""
    with pytest.raises(TransportTimeoutError, match=r"no complete answer from .* " + DEADLINE) as caught:
        transport.send(_request(refs))
    assert caught.value.retryable


@GUARD
@pytest.mark.parametrize(
    "handler", [_head_trickled, _never_answered], ids=["headers-one-byte-a-second", "never-answers"]
)
def test_a_server_that_holds_its_answer_cannot_hold_the_export_past_the_request_timeout(
    serve: Callable[..., str], refs: list[InstanceRef], handler: Handler
) -> None:
    url = serve(handler)
    with _stow(url, read_timeout=READ_TIMEOUT, request_timeout=2.0) as transport:
        _expect_deadline(transport, refs)


@GUARD
def test_a_server_reading_the_upload_slowly_cannot_hold_the_export_past_the_request_timeout(
    serve: Callable[..., str], tmp_path: Path
) -> None:
    # 2 x 8 MB of pixels: more than the socket buffers on both sides take, so the upload waits on the server
    big = write_ct_study(tmp_path / "big", per_series=2, rows=2048)
    done = threading.Event()
    url = serve(lambda conn: _read_slowly(conn, done), rcvbuf=4096)
    try:
        with _stow(url, read_timeout=READ_TIMEOUT, request_timeout=2.0) as transport:
            _expect_deadline(transport, big)
    finally:
        done.set()


@GUARD
def test_a_200_whose_body_trickles_is_stored_and_says_its_body_was_not_read(
    serve: Callable[..., str], refs: list[InstanceRef], caplog: pytest.LogCaptureFixture
) -> None:
    def handler(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/dicom+json\r\nContent-Length: 5000\r\n\r\n")
        _trickle(conn, b"{" * 5000, 0.3)

    url = serve(handler)
    with caplog.at_level(logging.WARNING, "dcm_exporter.transports.stow"), _stow(
        url, read_timeout=READ_TIMEOUT, request_timeout=2.0
    ) as transport:
        outcome = transport.send(_request(refs))
    assert outcome.status is OutcomeStatus.COMPLETED and outcome.completed == 2
    assert "HTTP 200, but the answer could not be read (no complete answer within the request timeout" in caplog.text


def _body_trickled(conn: socket.socket) -> None:
    """A 200 declaring 100,000 bytes of body, sent three bytes a second."""
    _read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    _trickle(conn, b"x" * 100000, 0.3)


HOLDERS = pytest.mark.parametrize(
    "handler",
    [_head_trickled, _body_trickled, _never_answered],
    ids=["headers-one-byte-a-second", "body-trickled", "never-answers"],
)


@GUARD
@HOLDERS
def test_wado_fetch_is_bounded_by_the_request_timeout_too(serve: Callable[..., str], handler: Handler) -> None:
    url = serve(handler)
    with build_client(HttpSettings(read_timeout=READ_TIMEOUT, request_timeout=2.0), what="wado:") as client:
        fetched = fetch(client, url, {}, None, request_timeout=2.0)
    assert fetched.status is None and fetched.retryable
    assert fetched.reason == "no complete answer within the request timeout of 2 s"


def _silent(conn: socket.socket) -> None:
    """Accept, then say nothing: for an https:// URL the client's TLS handshake waits on it."""
    _hold(conn)


@GUARD
def test_a_tls_server_that_never_finishes_its_handshake_is_bounded_by_the_request_timeout(
    serve: Callable[..., str], refs: list[InstanceRef]
) -> None:
    url = serve(_silent).replace("http://", "https://")
    # connect-timeout far beyond request-timeout too: the handshake counts against the whole request
    with _stow(url, connect_timeout=READ_TIMEOUT, read_timeout=READ_TIMEOUT, request_timeout=2.0) as transport, \
            pytest.raises(TransportError, match=r"cannot connect to .*: not connected \(TLS handshake included\) "
                                                + DEADLINE) as caught:
        transport.send(_request(refs))
    assert caught.value.retryable
    with build_client(HttpSettings(connect_timeout=READ_TIMEOUT, read_timeout=READ_TIMEOUT, request_timeout=2.0),
                      what="wado:") as client:
        fetched = fetch(client, url, {}, None, request_timeout=2.0)
    assert (fetched.status, fetched.retryable) == (None, True)
    assert fetched.reason == "not connected (TLS handshake included) within the request timeout of 2 s"


# --- the same through a real HTTP proxy (tinyproxy relays every trickled byte as it comes) ------------------


def _stow_via(url: str, proxy: str) -> StowTransport:
    """A stow: transport to the hostile server at ``url`` through ``proxy``, set up as an operator would: the
    web application's connection names the proxy (dcmHTTPProxy), its properties the timeouts."""
    from dcm_exporter.models import Connection, Device, WebApplication
    from dcm_exporter.transports.stow import resolve_settings

    port = int(url.split(":")[2].split("/")[0])
    conn = Connection(name="http", hostname="127.0.0.1", port=port, protocol="HTTP", http_proxy=proxy)
    web = WebApplication(name="HOSTILE", service_path="/dicom-web", service_classes=("STOW_RS",),
                         connection_refs=("http",),
                         properties={"request-timeout": "2", "read-timeout": str(READ_TIMEOUT)})
    config = Configuration(devices=[Device(device_name="hostile", connections=[conn], web_applications=[web])])
    exporter = ExporterDescriptor(exporter_id="STOW", uri="stow:HOSTILE", queue_name="Export1")
    return StowTransport(resolve_settings(exporter, config))


@GUARD
@pytest.mark.proxy
@pytest.mark.parametrize(
    "handler", [_head_trickled, _never_answered], ids=["headers-one-byte-a-second", "never-answers"]
)
def test_a_proxy_in_between_does_not_lift_the_request_timeout(
    serve: Callable[..., str], refs: list[InstanceRef], http_proxy_factory: Any, handler: Handler
) -> None:
    proxy = http_proxy_factory()
    url = serve(handler)
    with _stow_via(url, proxy.address) as transport:
        _expect_deadline(transport, refs)
    assert any(line.startswith(f"POST {url}") for line in proxy.requests())  # it went through the proxy


@GUARD
@pytest.mark.proxy
def test_a_wado_body_trickled_through_a_proxy_is_bounded_by_the_request_timeout(
    serve: Callable[..., str], http_proxy_factory: Any
) -> None:
    proxy = http_proxy_factory()
    url = serve(_body_trickled)
    settings = HttpSettings(read_timeout=READ_TIMEOUT, request_timeout=2.0, proxy=f"http://{proxy.address}")
    with build_client(settings, what="wado:") as client:
        fetched = fetch(client, url, {}, None, request_timeout=2.0)
    assert fetched.status is None and fetched.retryable
    assert fetched.reason == "no complete answer within the request timeout of 2 s"
    assert proxy.requests() == [f"GET {url} HTTP/1.1"]


def test_an_https_proxy_is_refused_when_configured() -> None:
    """dcm4che's dcmHTTPProxy is a plain HTTP proxy; TLS to a proxy inside which TLS runs to the server is
    not done, so saying https:// fails the configuration, not each export."""
    from dcm_exporter.errors import ConfigurationError
    from dcm_exporter.transports._http import proxy_url

    assert proxy_url("alice:s3cret@127.0.0.1:3128", "here") == "http://alice:s3cret@127.0.0.1:3128"
    with pytest.raises(ConfigurationError, match=r"here: dcmHTTPProxy 'https://alice:\*+@127.0.0.1:3128': only a "
                                                 r"plain HTTP proxy is supported"):
        proxy_url("https://alice:s3cret@127.0.0.1:3128", "here")


# --- a size cap on what is read ----------------------------------------------------------------------------


def test_a_huge_answer_is_read_up_to_the_cap_only(
    serve: Callable[..., str], refs: list[InstanceRef], caplog: pytest.LogCaptureFixture
) -> None:
    sent = [0]

    def handler(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/dicom+json\r\n"
                     b"Content-Length: 200000000\r\n\r\n")
        chunk = b" " * 65536
        while sent[0] < 200_000_000:  # stops when the client closes (OSError) or after 200 MB
            conn.sendall(chunk)
            sent[0] += len(chunk)

    url = serve(handler)
    with caplog.at_level(logging.WARNING, "dcm_exporter.transports.stow"), _stow(
        url, max_response_bytes=32 * 1024  # below what two instances may need: the configured cap applies
    ) as transport:
        outcome = transport.send(_request(refs))
    assert outcome.status is OutcomeStatus.COMPLETED and outcome.completed == 2
    assert "the answer is larger than the limit of 32768 bytes (max-response-bytes)" in caplog.text
    assert sent[0] < 100_000_000  # the client hung up long before the end


def _referenced(refs: list[InstanceRef], padding: int) -> bytes:
    """A 202 answer (DICOM JSON) naming ``refs`` as stored, each with a Retrieve URL ``padding`` long."""
    items = [{"00081150": {"vr": "UI", "Value": [r.sop_class_uid]},
              "00081155": {"vr": "UI", "Value": [r.sop_instance_uid]},
              "00081190": {"vr": "UR", "Value": ["http://127.0.0.1/" + "x" * padding]}} for r in refs]
    return json.dumps({"00081199": {"vr": "SQ", "Value": items}}).encode()


def test_a_small_request_takes_a_small_answer_only(
    serve: Callable[..., str], refs: list[InstanceRef]
) -> None:
    """A parsed answer costs up to ~45 times its size (16 MiB of <a/> took 520 MB and 13 s): the answer to a
    request of two instances is read up to 64 KiB + 2 x 8 KiB, not up to max-response-bytes (16 MiB). An
    answer within that, over the 64 KiB base, is read whole."""
    assert len(refs) == 2
    wide = b"<NativeDicomModel>" + b"<a/>" * 4_000_000 + b"</NativeDicomModel>"
    url = serve(lambda conn: (_read_request(conn), conn.sendall(_answer("202 Accepted", wide,
                                                                         "application/dicom+xml"))))
    with _stow(url) as transport:
        outcome = transport.send(_request(refs))
    assert outcome.failed == 2
    assert all("the answer is larger than the limit of 81920 bytes (64 KiB and 8 KiB for each of the 2 "
               "instances sent)" in f.reason for f in outcome.failures)

    fitting = _referenced(refs, 6_000) + b" " * 60_000  # about 72 KiB
    assert 64 * 1024 < len(fitting) < 80 * 1024
    url = serve(lambda conn: (_read_request(conn), conn.sendall(_answer("202 Accepted", fitting))))
    with _stow(url) as transport:
        outcome = transport.send(_request(refs))
    assert (outcome.completed, outcome.failed) == (2, 0)


def test_a_compressed_answer_is_not_unpacked(serve: Callable[..., str], refs: list[InstanceRef]) -> None:
    import gzip

    bomb = gzip.compress(b"[" * 10_000_000)  # 10 MB of nesting in about 10 KB
    url = serve(lambda conn: (_read_request(conn), conn.sendall(
        b"HTTP/1.1 202 Accepted\r\nContent-Type: application/dicom+json\r\nContent-Encoding: gzip\r\n"
        + f"Content-Length: {len(bomb)}\r\nConnection: close\r\n\r\n".encode() + bomb)))
    with _stow(url) as transport:
        outcome = transport.send(_request(refs))
    assert outcome.failed == 2
    assert all("the answer is compressed (Content-Encoding: gzip)" in f.reason for f in outcome.failures)


# --- parsers that refuse DTDs themselves; every parse failure alike ----------------------------------------

UTF16_DTD = ('<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE NativeDicomModel [<!ENTITY x "y">]>\n'
             "<NativeDicomModel/>").encode("utf-16")


def test_a_dtd_in_utf16_is_refused_by_the_parser() -> None:
    assert b"<!DOCTYPE" not in UTF16_DTD  # what a byte search missed
    with pytest.raises(ResponseParseError, match="DTDForbidden"):
        parse_store_response(UTF16_DTD, "application/dicom+xml")


@pytest.mark.parametrize(
    ("name", "body", "content_type"),
    [
        ("deeply nested JSON", b"[" * 100_000 + b"]" * 100_000, "application/dicom+json"),
        ("a 5,000-digit number", b'{"00081190": {"vr": "UR", "Value": [' + b"9" * 5000 + b"]}}",
         "application/dicom+json"),
        ("a DTD in UTF-16", UTF16_DTD, "application/dicom+xml"),
    ],
)
def test_a_200_whose_body_cannot_be_parsed_is_a_success_that_says_so(
    serve: Callable[..., str], refs: list[InstanceRef], caplog: pytest.LogCaptureFixture,
    name: str, body: bytes, content_type: str,
) -> None:
    url = serve(lambda conn: (_read_request(conn), conn.sendall(_answer("200 OK", body, content_type))))
    with caplog.at_level(logging.WARNING, "dcm_exporter.transports.stow"), _stow(url) as transport:
        outcome = transport.send(_request(refs))
    assert outcome.status is OutcomeStatus.COMPLETED and outcome.completed == 2, name
    assert "HTTP 200, but the answer could not be read" in caplog.text
    assert "HTTP 200 says every instance was stored" in caplog.text


def test_a_202_whose_body_cannot_be_parsed_fails_its_instances_with_the_reason(
    serve: Callable[..., str], refs: list[InstanceRef]
) -> None:
    body = json.dumps({"x": 1}).encode()[:-1] + b"9" * 5000
    url = serve(lambda conn: (_read_request(conn), conn.sendall(_answer("202 Accepted", body))))
    with _stow(url) as transport:
        outcome = transport.send(_request(refs))
    assert outcome.failed == 2
    assert all("the response could not be read (response is not valid JSON" in f.reason for f in outcome.failures)


# --- wado: answers stored on a storage are capped ----------------------------------------------------------


def _wado_config(url: str, cache: Path, **web_props: str) -> tuple[Configuration, ExporterDescriptor]:
    from dcm_exporter.models import (
        Connection,
        Device,
        QueueDescriptor,
        StorageDescriptor,
        WebApplication,
    )

    port = int(url.split(":")[2].split("/")[0])
    exporter = ExporterDescriptor(exporter_id="WADO", uri="wado:HOSTILE", queue_name="Export1", properties={
        "WadoService": "/studies/[0]/series/[1]/instances/[2]", "StorageID": "cache"})
    storage = StorageDescriptor(storage_id="cache", uri=cache.as_uri(),
                                storage_path_format="{0020000D}/{0020000E}/{00080018}.dcm")
    archive = Device(device_name="archive", exporters=[exporter], queues=[QueueDescriptor(queue_name="Export1")],
                     storages=[storage])
    conn = Connection(name="http", hostname="127.0.0.1", port=port, protocol="HTTP")
    web = WebApplication(name="HOSTILE", service_path="/dicom-web", service_classes=("WADO_RS",),
                         connection_refs=("http",), properties=web_props)
    peer = Device(device_name="hostile", connections=[conn], web_applications=[web])
    return Configuration(devices=[archive, peer]), exporter


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "endless"])
def test_a_wado_answer_larger_than_max_stored_bytes_fails_alone_and_leaves_nothing(
    serve: Callable[..., str], refs: list[InstanceRef], tmp_path: Path, declared: bool
) -> None:
    """The answer for the first instance never ends (or declares 200 MB); the others are small. The big one
    fails with the limit named and nothing of it stored; the others are stored whole."""
    from dcm_exporter.transports.wado import create_transport

    hostile = refs[0].sop_instance_uid
    sent = [0]

    def handler(conn: socket.socket) -> None:
        path = _read_request(conn)
        if not path.endswith(hostile):
            body = path.encode() * 10
            conn.sendall(_answer("200 OK", body, "application/dicom"))
            return
        length = b"Content-Length: 200000000\r\n" if declared else b""
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/dicom\r\n" + length
                     + b"Connection: close\r\n\r\n")
        chunk = b"\x00" * 65536
        while sent[0] < 200_000_000:  # stops when the client hangs up (OSError) or after 200 MB
            conn.sendall(chunk)
            sent[0] += len(chunk)

    url = serve(handler)
    cache = tmp_path / "cache"
    config, exporter = _wado_config(url, cache, **{"max-stored-bytes": str(1 << 20)})
    request = ExportRequest(exporter=exporter, configuration=config, study_uid=refs[0].study_uid, instances=refs)
    with create_transport(exporter, config) as transport:
        outcome = transport.send(request)
    assert outcome.status is OutcomeStatus.WARNING, outcome.message
    assert (outcome.completed, outcome.failed) == (len(refs) - 1, 1)
    (failure,) = outcome.failures
    assert failure.sop_instance_uid == hostile
    how = "declares 200000000 bytes" if declared else "ran past it"
    assert f"/instances/{hostile}: the HTTP 200 answer {how}" in failure.reason
    assert ("larger than the limit of 1048576 bytes (max-stored-bytes of web application HOSTILE); nothing of it "
            "was kept") in failure.reason
    stored = sorted(p.name for p in cache.rglob("*") if p.is_file())
    assert stored == sorted(f"{r.sop_instance_uid}.dcm" for r in refs[1:])  # no part of the big one, no temp
    for ref in refs[1:]:
        path = cache / ref.study_uid / ref.series_uid / f"{ref.sop_instance_uid}.dcm"
        assert path.read_bytes().startswith(b"/dicom-web/studies/")
    assert sent[0] < 100_000_000  # the client hung up long before the end
    if declared:
        assert sent[0] < 8 << 20  # refused on the header: at most what the socket buffers took


def test_max_stored_bytes_must_be_a_positive_whole_number(tmp_path: Path) -> None:
    from dcm_exporter.errors import ConfigurationError
    from dcm_exporter.transports.wado import resolve_settings

    config, exporter = _wado_config("http://127.0.0.1:1/x", tmp_path, **{"max-stored-bytes": "1.5"})
    with pytest.raises(ConfigurationError, match=r"property max-stored-bytes='1.5' of web application HOSTILE: "
                                                 r"expected a whole number"):
        resolve_settings(exporter, config)
    config, exporter = _wado_config("http://127.0.0.1:1/x", tmp_path)
    assert resolve_settings(exporter, config).max_stored_bytes == 4 << 30


def test_compressed_wado_answers_are_unpacked_in_bounded_steps(
    serve: Callable[[Handler], str], tmp_path: Path
) -> None:
    """A server that compresses although asked for identity: a small gzip answer is stored unpacked; 100 MB of
    zeros in 100 KB of gzip run past max-stored-bytes (unpacked a step at a time, never a whole network read
    at once); an encoding zlib does not speak fails its request with the encoding named."""
    import gzip

    from dcm_exporter.transports.wado import create_transport

    refs = write_ct_study(tmp_path / "study", per_series=3)
    small = b"DICM-ish " * 1000
    bomb = gzip.compress(bytes(100_000_000), compresslevel=9)
    assert len(bomb) < 200_000
    answers = {refs[0].sop_instance_uid: ("gzip", gzip.compress(small)),
               refs[1].sop_instance_uid: ("gzip", bomb),
               refs[2].sop_instance_uid: ("br", b"\x0b\x02\x80hello\x03")}
    seen: list[str] = []

    def handler(conn: socket.socket) -> None:
        path = _read_request(conn)
        seen.append(path)
        encoding, body = answers[path.rsplit("/", 1)[1]]
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/dicom\r\nContent-Encoding: {encoding}\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)

    url = serve(handler)
    cache = tmp_path / "cache"
    config, exporter = _wado_config(url, cache, **{"max-stored-bytes": str(1 << 20)})
    request = ExportRequest(exporter=exporter, configuration=config, study_uid=refs[0].study_uid,
                            instances=refs[:3])
    with create_transport(exporter, config) as transport:
        outcome = transport.send(request)
    assert (outcome.completed, outcome.failed) == (1, 2), outcome.message
    reasons = {f.sop_instance_uid: f.reason for f in outcome.failures}
    assert "ran past it (more than 1048576 bytes sent)" in reasons[refs[1].sop_instance_uid]
    assert "the answer is encoded as 'br', which cannot be unpacked here" in reasons[refs[2].sop_instance_uid]
    ref = refs[0]
    assert (cache / ref.study_uid / ref.series_uid / f"{ref.sop_instance_uid}.dcm").read_bytes() == small
    assert sorted(p.name for p in cache.rglob("*") if p.is_file()) == [f"{ref.sop_instance_uid}.dcm"]
