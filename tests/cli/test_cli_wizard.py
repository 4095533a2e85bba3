"""The ``exporter create`` wizard in a pseudo terminal (pexpect): prompts, wrong answers, the LDIF written."""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect
import pytest
from _cli import cli_env

from dcm_exporter.cli._demo import demo_configuration
from dcm_exporter.codecs import ldif
from dcm_exporter.models import ApplicationEntity, Connection, Device
from dcm_exporter.transports.registry import schemes


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """The demo configuration plus a second remote AE, ORTHANC."""
    configuration = demo_configuration().add_device(
        Device(
            device_name="orthanc",
            connections=(Connection(name="dicom", hostname="127.0.0.1", port=4242),),
            application_entities=(
                ApplicationEntity(ae_title="ORTHANC", connection_refs=("dicom",), association_acceptor=True),
            ),
        )
    )
    path = tmp_path / "config.ldif"
    path.write_text(ldif.dumps(configuration))
    return path


def spawn(*args: str, cwd: Path) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable, ["-m", "dcm_exporter.cli", *args], cwd=str(cwd), env=cli_env(), encoding="utf-8",
        timeout=15, dimensions=(50, 200),
    )
    child.logfile_read = None
    return child


def test_wizard_asks_checks_each_answer_and_writes_the_ldif(config_file: Path, tmp_path: Path) -> None:
    before = ldif.load(config_file)
    child = spawn("exporter", "create", "--config", str(config_file), cwd=tmp_path)
    child.expect_exact("New exporter on device dcm-exporter-demo")

    child.expect_exact("Exporter ID: ")
    child.sendline("")  # empty
    child.expect_exact("invalid: the exporter ID must not be empty")
    child.expect_exact("Exporter ID: ")
    child.sendline("STORESCP")  # taken
    child.expect_exact("invalid: an exporter with ID STORESCP exists already")
    child.sendline("bad,id")
    child.expect_exact("special in DNs")
    child.sendline("TO_ORTHANC")

    # the URI prompt offers the registered schemes and the known remote AEs
    child.expect(r"URI schemes: ([^\r\n]*)\r\n")
    offered = child.match.group(1).split(", ")
    assert offered == [f"{s}:" for s in sorted(schemes())]
    child.expect(r"Remote AEs \(dicom:AET\): ([^\r\n]*)\r\n")
    assert child.match.group(1).split(", ") == ["STORESCP", "ORTHANC"]
    child.expect_exact("URI: ")  # two remote AEs: no default, the first would be a guess
    child.sendline("ORTHANC")
    child.expect_exact("has no scheme")
    child.sendline("ftp:ORTHANC")
    child.expect_exact("invalid: unknown scheme ftp:")
    child.sendline("dicom:NOBODY")
    child.expect_exact("invalid: Unknown AE: NOBODY (known AEs: STORESCP, ORTHANC")
    child.sendline("dicom:orthanc")
    child.expect_exact("invalid: Unknown AE: orthanc (did you mean ORTHANC?)")
    child.sendline("dicom:ORTHANC")

    child.expect_exact("Queues of dcm-exporter-demo: Export1")
    child.expect_exact("Queue [Export1]: ")
    child.sendline("Export9")
    # a slip of a name is not created by default
    child.expect_exact("Queue Export9 does not exist on device dcm-exporter-demo (did you mean Export1?): "
                       "create it? [y/N]: ")
    child.sendline("")
    child.expect_exact("Queue [Export1]: ")
    child.sendline("")  # the default

    child.expect_exact("AE title (calling AE) [DCM4CHEE]: ")
    child.sendline("NOTMINE")
    child.expect_exact("invalid: NOTMINE is not an AE of device dcm-exporter-demo (AEs: DCM4CHEE)")
    child.sendline("DCM4CHEE")

    child.expect_exact("Description (optional): ")
    child.sendline("Orthanc at night")

    child.expect_exact("Schedule, e.g. hour=18-6 dayOfWeek=* (empty line: always / done): ")
    child.sendline("hour=25")
    child.expect_exact("invalid: invalid schedule 'hour=25'")
    child.sendline("hour=18-6")
    child.expect_exact("Schedule, e.g.")
    child.sendline("dayOfWeek=0,6")
    child.expect_exact("Schedule, e.g.")
    child.sendline("")

    child.expect_exact("Property key=value (empty line: done): ")
    child.sendline("MultipleStoreAssociations")
    child.expect_exact("invalid: a property is key=value")
    child.sendline("MultipleStoreAssociations=2")
    child.expect_exact("Property key=value")
    child.sendline("")

    child.expect_exact("dcmURI            dicom:ORTHANC")
    child.expect_exact("dcmSchedule       hour=18-6 dayOfWeek=*")
    child.expect_exact("dcmSchedule       hour=* dayOfWeek=0,6")
    child.expect_exact(f"Write exporter TO_ORTHANC to {config_file}? [Y/n]: ")
    child.sendline("maybe")
    child.expect_exact("please answer y or n")
    child.sendline("y")
    child.expect_exact(f"exporter TO_ORTHANC (dicom:ORTHANC) written to {config_file}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    text = config_file.read_text()
    assert "dn: dcmExporterID=TO_ORTHANC,dicomDeviceName=dcm-exporter-demo,cn=Devices," in text
    after = ldif.load(config_file)
    exporter = after.exporters["TO_ORTHANC"]
    assert exporter.uri == "dicom:ORTHANC"
    assert exporter.queue_name == "Export1"
    assert exporter.ae_title == "DCM4CHEE"
    assert exporter.description == "Orthanc at night"
    assert exporter.schedules.to_strings() == ("hour=18-6 dayOfWeek=*", "hour=* dayOfWeek=0,6")
    assert dict(exporter.properties) == {"MultipleStoreAssociations": "2"}
    # nothing else changed
    assert after.remove_exporter("TO_ORTHANC").devices == before.devices
    assert after.validate() == []


def test_wizard_uses_flags_and_asks_only_the_rest(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.ldif"
    child = spawn("exporter", "create", "--config", str(config_file), "--id", "NOOP", "--uri", "noop:nothing",
                  "--queue-name", "Export1", "--ae-title", "DCM4CHEE", "--output", str(out), cwd=tmp_path)
    child.expect_exact("Description (optional): ")
    before = child.before
    assert "Exporter ID" not in before and "URI" not in before and "Queue" not in before
    child.sendline("")
    child.expect_exact("Schedule")
    child.sendline("")
    child.expect_exact("Property")
    child.sendline("")
    child.expect_exact(f"Write exporter NOOP to {out}? [Y/n]: ")
    child.sendline("")  # yes is the default
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert ldif.load(out).exporters["NOOP"].uri == "noop:nothing"


def test_wizard_declined_or_ended_writes_nothing(config_file: Path, tmp_path: Path) -> None:
    before = config_file.read_text()
    child = spawn("exporter", "create", "--config", str(config_file), "--id", "X", "--uri", "noop:nothing",
                  "--queue-name", "Export1", "--ae-title", "DCM4CHEE", "--description", "", "--schedule", "hour=1",
                  "--property", "a=b", cwd=tmp_path)
    child.expect_exact("Write exporter X to")
    child.sendline("n")
    child.expect_exact("nothing written")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1

    child = spawn("exporter", "create", "--config", str(config_file), cwd=tmp_path)
    child.expect_exact("Exporter ID: ")
    child.sendeof()
    child.expect_exact("input ended: no exporter created")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert config_file.read_text() == before


def test_wizard_offers_the_web_applications_for_stow(config_file: Path, tmp_path: Path) -> None:
    """A web application added with 'webapp add' is offered as a stow:NAME destination."""
    from _cli import ok

    ok("webapp", "add", "ORTHANC_RS", "--url", "http://127.0.0.1:8042/dicom-web", "--config", str(config_file),
       cwd=tmp_path)
    child = spawn("exporter", "create", "--config", str(config_file), "--id", "TO_RS", cwd=tmp_path)
    child.expect_exact("Remote AEs (dicom:AET): STORESCP, ORTHANC")
    child.expect_exact("Web applications (stow:NAME): ORTHANC_RS")
    child.expect_exact("URI: ")
    child.sendline("stow:ORTHANC_RS")
    child.expect_exact("Queue [Export1]: ")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1


def test_wizard_creates_a_missing_queue(config_file: Path, tmp_path: Path) -> None:
    child = spawn("exporter", "create", "--config", str(config_file), "--id", "NIGHTLY", "--uri", "dicom:ORTHANC",
                  "--ae-title", "DCM4CHEE", "--description", "", "--schedule", "hour=18-6", "--property", "a=b",
                  cwd=tmp_path)
    child.expect_exact("Queue [Export1]: ")
    child.sendline("Nightly")
    child.expect_exact("Queue Nightly does not exist on device dcm-exporter-demo: create it? [Y/n]: ")
    child.sendline("y")
    child.expect_exact("dcmQueueName      Nightly")
    child.expect_exact("? [Y/n]: ")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    written = ldif.load(config_file)
    assert written.exporters["NIGHTLY"].queue_name == "Nightly"
    assert written.device("dcm-exporter-demo").queue("Nightly") is not None
    assert written.validate() == [] or all(i.severity.value == "warning" for i in written.validate())
