"""``dcmURI`` checked as ``java.net.URI`` parses it: dcm4chee-arc-light fails to load the whole archive device on
a value Java refuses, so nothing dcm_exporter writes may hold one. The expected messages are Java's own
(``new java.net.URI(s)`` on OpenJDK 17, ``URISyntaxException.getMessage()``)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dcm_exporter.codecs import device_json, ldif
from dcm_exporter.errors import ConfigurationError
from dcm_exporter.models import Configuration, ExporterDescriptor, Severity
from dcm_exporter.models._uri import java_uri_problem
from dcm_exporter.transports.noop import NoopTransport

JAVA = [
    ("noop:", "Expected scheme-specific part at index 5: noop:"),
    ("noop:nothing", None),
    ("noop:x#", None),
    ("noop:#frag", "Expected scheme-specific part at index 5: noop:#frag"),
    ("dicom:STORESCP", None),
    ("dicom:MY AET", "Illegal character in opaque part at index 8: dicom:MY AET"),
    ("dicom:MY%20AET", None),
    ("dicom:A%2", "Malformed escape pair at index 7: dicom:A%2"),
    ("dicom:A%zz", "Malformed escape pair at index 7: dicom:A%zz"),
    ("dicom:A%", "Malformed escape pair at index 7: dicom:A%"),
    ("stow:http://host:8080/dicom-web", None),
    ("stow:ORTHANC", None),
    ("storage:fs1", None),
    ("wado:WADO-JSON", None),
    ("xds-i:REPOSITORY", None),
    ("1noop:x", "Illegal character in scheme name at index 0: 1noop:x"),
    ("no op:x", "Illegal character in scheme name at index 2: no op:x"),
    (":x", "Expected scheme name at index 0: :x"),
    ("n+o.o-p:x", None),
    ("dicom:AE\t", "Illegal character in opaque part at index 8: dicom:AE\t"),
    ('dicom:A"B', 'Illegal character in opaque part at index 7: dicom:A"B'),
    ("dicom:A<B", "Illegal character in opaque part at index 7: dicom:A<B"),
    ("dicom:A{B}", "Illegal character in opaque part at index 7: dicom:A{B}"),
    ("dicom:A|B", "Illegal character in opaque part at index 7: dicom:A|B"),
    ("dicom:A^B", "Illegal character in opaque part at index 7: dicom:A^B"),
    ("dicom:A`B", "Illegal character in opaque part at index 7: dicom:A`B"),
    ("dicom:A\\B", "Illegal character in opaque part at index 7: dicom:A\\B"),
    ("dicom:ÄRZTE", None),
    ("dicom:A\u00a0B", "Illegal character in opaque part at index 7: dicom:A\u00a0B"),
    ("dicom:A\u2028B", "Illegal character in opaque part at index 7: dicom:A\u2028B"),
    ("dicom:[x]", None),
    ("file:///tmp/x", None),
    ("file://", "Expected authority at index 7: file://"),
    ("file:/tmp/x y", "Illegal character in path at index 11: file:/tmp/x y"),
    ("http://h/p?q r", "Illegal character in query at index 12: http://h/p?q r"),
    ("http://h/p?q#f g", "Illegal character in fragment at index 14: http://h/p?q#f g"),
    ("http://h:80/p", None),
    ("http:///p", None),
    ("http://a b/p", "Illegal character in authority at index 7: http://a b/p"),
    ("noop:x#a#b", "Illegal character in fragment at index 8: noop:x#a#b"),
    ("noop:x?y", None),
    ("dicom:A;B=C", None),
    ("storage:fs1/a", None),
]


@pytest.mark.parametrize(("uri", "java"), JAVA)
def test_same_verdict_and_message_as_java(uri: str, java: str | None) -> None:
    assert java_uri_problem(uri) == java


def test_models_refuse_what_java_refuses() -> None:
    with pytest.raises(ConfigurationError, match=r"Expected scheme-specific part at index 5: noop:.*noop:nothing"):
        ExporterDescriptor(exporter_id="NOOP", uri="noop:", queue_name="Export1")
    with pytest.raises(ConfigurationError, match="opaque part"):
        ExporterDescriptor(exporter_id="X", uri="dicom:MY AET", queue_name="Export1")
    assert ExporterDescriptor(exporter_id="NOOP", uri="noop:nothing", queue_name="Export1").uri_problem is None


def test_noop_transport_default_is_a_valid_uri() -> None:
    assert java_uri_problem(NoopTransport().destination) is None


LDIF = """\
dn: dicomDeviceName=dcm4chee-arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
objectClass: dicomDevice
objectClass: dcmArchiveDevice
dicomDeviceName: dcm4chee-arc
dicomInstalled: TRUE

dn: dcmQueueName=Export1,dicomDeviceName=dcm4chee-arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
objectClass: dcmQueue
dcmQueueName: Export1

dn: dcmExporterID=NOOP,dicomDeviceName=dcm4chee-arc,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org
objectClass: dcmExporter
dcmExporterID: NOOP
dcmURI: noop:
dcmQueueName: Export1
"""


def test_read_with_a_warning_never_written(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "bad.ldif"
    path.write_text(LDIF)
    with caplog.at_level(logging.WARNING, logger="dcm_exporter.codecs"):
        configuration = ldif.load(path)
    exporter = configuration.exporters["NOOP"]
    assert exporter.uri == "noop:"
    assert exporter.uri_problem == "Expected scheme-specific part at index 5: noop:"
    assert any("dcmExporterID=NOOP" in r.getMessage() and "noop:" in r.getMessage() for r in caplog.records)
    errors = [i for i in configuration.validate() if i.severity is Severity.ERROR]
    assert len(errors) == 1 and "NOOP" in errors[0].message and "URISyntaxException" in errors[0].message
    assert errors[0].location is not None and errors[0].location.line == 11
    with pytest.raises(ConfigurationError, match="refusing to write dcmExporterID=NOOP"):
        ldif.dumps(configuration)
    with pytest.raises(ConfigurationError, match="refusing to write dcmExporterID=NOOP"):
        device_json.configuration_to_json(configuration)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("noop:", r"java.net.URI: Expected scheme-specific part at index 5: noop:\); e.g. noop:nothing"),
        ("noop:#x", "Expected scheme-specific part"),
        ("storage:my fs", "Illegal character in opaque part at index 10"),
        ("dicom:A%zz", "Malformed escape pair"),
    ],
)
def test_the_wizard_refuses_what_java_refuses(answer: str, message: str) -> None:
    from dcm_exporter.cli._wizard import check_uri

    with pytest.raises(ValueError, match=message):
        check_uri(Configuration(), answer)
    assert check_uri(Configuration(), "noop:nothing") == "noop:nothing"


# Java reads an authority holding '[' or ']' only as a server: [userinfo@][IPv6 address][:port], nothing else
# (OpenJDK 17 and Temurin 25 refuse each of the first group and accept the second)
@pytest.mark.parametrize(
    "uri", ["noop://[", "noop://-[", "x://a@c]", "x://[::1]:b$]", "x://[::1]:[::1]", "noop://[::1].", "x://[v1.x]",
            "x://[1.2.3.4]", "x://[::1]x", "x://[zz::1]"]
)
def test_brackets_in_an_authority_java_refuses(uri: str) -> None:
    problem = java_uri_problem(uri)
    assert problem is not None and problem.startswith("Illegal character in authority")


@pytest.mark.parametrize("uri", ["x://[::1]", "x://[::1]:104/p", "x://a@[::1]:", "x://[::ffff:1.2.3.4]/", "x://a:b@host:1"])
def test_brackets_in_an_authority_java_accepts(uri: str) -> None:
    assert java_uri_problem(uri) is None
