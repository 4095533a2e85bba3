"""wado: settings resolved from the configuration as upstream's WadoExporter reads them (pure; the transport
against Orthanc is in tests/integration/test_wado_orthanc.py)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from dcm_exporter.errors import ConfigurationError, TransportError
from dcm_exporter.export import ExportRequest
from dcm_exporter.models import Configuration, Connection, Device, ExporterDescriptor, WebApplication
from dcm_exporter.transports.wado import create_transport, resolve_settings


def config(service_classes: tuple[str, ...] = ("WADO_RS", "QIDO_RS"), **web_props: str) -> Configuration:
    conn = Connection(name="http", hostname="pacs.example", port=8080, protocol="HTTP")
    web = WebApplication(name="WEB", service_path="/dcm4chee-arc/aets/DCM4CHEE/rs", service_classes=service_classes,
                         connection_refs=("http",), properties=web_props)
    return Configuration(devices=[Device(device_name="web", connections=[conn], web_applications=[web])])


def exporter(**props: str) -> ExporterDescriptor:
    return ExporterDescriptor(exporter_id="WADO-JSON", uri="wado:WEB", queue_name="Export1", properties=props)


BASE = "http://pacs.example:8080/dcm4chee-arc/aets/DCM4CHEE/rs"


@pytest.mark.parametrize(
    ("service", "level", "params", "url"),
    [
        ("/studies", "CONST", (), "/studies"),
        ("/studies/[0]/metadata", "STUDY", ("1.2",), "/studies/1.2/metadata"),
        ("/studies/[0]/series/[1]/metadata", "SERIES", ("1.2", "1.2.3"), "/studies/1.2/series/1.2.3/metadata"),
        ("/studies/[0]/series/[1]/instances/[2]/rendered", "INSTANCE", ("1", "2", "3"),
         "/studies/1/series/2/instances/3/rendered"),
        ("/studies/[0]/series/[1]/instances/[2]/frames/[3]", "FRAME", ("1", "2", "3", "4"),
         "/studies/1/series/2/instances/3/frames/4"),
        # as upstream, the URL is a MessageFormat pattern: quotes quote, '' is one quote
        ("/studies/[0]?x='[1]'", "STUDY", ("1.2",), "/studies/1.2?x={1}"),  # brackets became braces
        ("/studies/[0]?name=O''Brien", "STUDY", ("1.2",), "/studies/1.2?name=O'Brien"),
    ],
)
def test_levels_and_urls(service: str, level: str, params: tuple[str, ...], url: str) -> None:
    settings = resolve_settings(exporter(WadoService=service), config())
    assert settings.level == level
    assert settings.url(params) == BASE + url


def test_qido_service_and_headers() -> None:
    settings = resolve_settings(
        exporter(QidoService="/studies?StudyInstanceUID=[0]", Accept="application/dicom+json",
                 **{"Accept-Encoding": "gzip", "Cache-Control": "no-cache", "Other": "x"}),
        config(**{"bearer-token": "s3cret"}),
    )
    assert settings.level == "STUDY"
    assert settings.request_headers() == {"Accept": "application/dicom+json", "Accept-Encoding": "gzip",
                                          "Cache-Control": "no-cache", "Authorization": "Bearer s3cret"}
    assert "s3cret" not in repr(settings)


def test_wado_service_wins_over_qido_service() -> None:
    settings = resolve_settings(exporter(WadoService="/studies/[0]", QidoService="/studies"), config())
    assert settings.level == "STUDY"


@pytest.mark.parametrize(
    ("props", "classes", "message"),
    [
        ({}, ("WADO_RS",), "needs the property WadoService or QidoService"),
        ({"WadoService": "/studies/[0]"}, ("QIDO_RS",), "none of WADO_RS, WADO_URI"),
        ({"QidoService": "/studies"}, ("WADO_RS",), "none of QIDO_RS"),
        ({"WadoService": "/[0]/[1]/[2]/[3]/[0]"}, ("WADO_RS",), "up to four placeholders"),
        ({"WadoService": "/[4]"}, ("WADO_RS",), "up to four placeholders"),
        ({"WadoService": "/[0,number]"}, ("WADO_RS",), "without formats"),
        ({"WadoService": "/x", "IgnoreNotFound": "maybe"}, ("WADO_RS",), "expected true or false"),
        ({"WadoService": "/x", "StorageID": "nowhere"}, ("WADO_RS",), "StorageID nowhere is not configured"),
    ],
)
def test_configuration_errors(props: dict[str, str], classes: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        resolve_settings(exporter(**props), config(classes))


def test_unknown_web_application() -> None:
    e = ExporterDescriptor(exporter_id="W", uri="wado:NOPE", queue_name="Export1",
                           properties={"WadoService": "/x"})
    with pytest.raises(ConfigurationError, match="Unknown Web Application: NOPE"):
        resolve_settings(e, config())


# --- small hostile peers on loopback (bounded in time) ----------------------------------------------------


@pytest.fixture
def peer() -> Iterator[tuple[int, list[str]]]:
    """A loopback HTTP server: /slow never answers within the read timeout, /boom answers 500, else 200."""
    seen: list[str] = []
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            if self.path.startswith("/slow"):
                release.wait(5)
                return
            status = 500 if self.path.startswith("/boom") else 200
            body = b"internal trouble" if status == 500 else b"{}"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def peer_config(port: int) -> Configuration:
    conn = Connection(name="http", hostname="127.0.0.1", port=port, protocol="HTTP")
    web = WebApplication(name="WEB", service_path="/", service_classes=("WADO_RS",), connection_refs=("http",),
                         properties={"read-timeout": "0.3", "connect-timeout": "1"})
    return Configuration(devices=[Device(device_name="web", connections=[conn], web_applications=[web])])


def request(e: ExporterDescriptor, cfg: Configuration, study: str) -> ExportRequest:
    return ExportRequest(exporter=e, configuration=cfg, study_uid=study)


def test_a_peer_that_never_answers_is_bounded_by_the_read_timeout(peer: tuple[int, list[str]]) -> None:
    port, seen = peer
    e = exporter(WadoService="/slow/[0]")
    cfg = peer_config(port)
    with create_transport(e, cfg) as transport, pytest.raises(TransportError, match="timed out") as info:
        transport.send(request(e, cfg, "1.2"))
    assert info.value.retryable
    assert seen == ["/slow/1.2"]


def test_a_server_error_fails_retryably_and_says_what_it_answered(peer: tuple[int, list[str]]) -> None:
    port, _ = peer
    e = exporter(WadoService="/boom/[0]")
    cfg = peer_config(port)
    with create_transport(e, cfg) as transport, pytest.raises(TransportError) as info:
        transport.send(request(e, cfg, "1.2"))
    assert "HTTP 500 Internal Server Error: internal trouble" in str(info.value)
    assert info.value.retryable


def test_an_invalid_url_is_a_failure_not_a_traceback(peer: tuple[int, list[str]]) -> None:
    port, seen = peer
    e = exporter(WadoService="x/[0]")  # no slash: the port runs into the path, as upstream would build it
    cfg = peer_config(port)
    with create_transport(e, cfg) as transport, pytest.raises(TransportError, match="invalid URL") as info:
        transport.send(request(e, cfg, "1.2"))
    assert not info.value.retryable
    assert seen == []
