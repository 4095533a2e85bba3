"""Our export REST API against upstream's OpenAPI description (``../shared/dcm4che/swagger/``).

Every route below ``/dcm4chee-arc`` is a path upstream documents, with the same method; every answer of a
scenario that touches each route has a status code upstream documents for it, every query parameter we send
is one upstream documents, and every JSON body validates against the schema of that response
(``schemas.json``: ``exportTask``, ``exportTaskList``, ``exportBatchList``, count results). Skipped when
``../shared`` is absent (the files are upstream's and are not copied into the repository).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx2")
import jsonschema
from starlette.routing import Route
from starlette.testclient import TestClient

from dcm_exporter.cli._demo import demo_configuration
from dcm_exporter.exporter import Exporter
from dcm_exporter.models import Configuration, ExporterDescriptor
from dcm_exporter.queue import SqliteTaskStore
from dcm_exporter.sample import StudyInfo
from dcm_exporter.sources import FileSystemSource
from dcm_exporter.web import BASE_PATH, create_app

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def configuration() -> Configuration:
    """The demo archive (device dcm-exporter-demo, AE DCM4CHEE, exporter STORESCP) plus a NOOP exporter."""
    return demo_configuration().put_exporter(ExporterDescriptor(
        exporter_id="NOOP", uri="noop:nothing", queue_name="Export1", ae_title="DCM4CHEE"))

pytestmark = pytest.mark.upstream


class OpenApi:
    """Upstream's description, read with its relative ``$ref``s resolved the way upstream's files use them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.root = self._load("openapi.json")
        self.schemas = self._load("schemas.json")

    @cache  # noqa: B019 - one instance per test session
    def _load(self, name: str) -> Any:
        return json.loads((self.folder / name).read_text(encoding="utf-8"))

    def _ref(self, ref: str, relative_to: str) -> Any:
        file, _, pointer = ref.partition("#/")
        name = str(Path(relative_to).parent / file) if file else relative_to
        name = str(Path(name)).replace("paths/../", "")
        doc = self._load(name)
        for part in pointer.split("/"):
            doc = doc[part]
        return doc

    def operation(self, method: str, template: str) -> dict[str, Any] | None:
        """The operation, or ``None`` when the path is listed but its file is not among the copies
        (``/ctrl/reload`` is in ``paths/misc.json``)."""
        path = self.root["paths"].get(template)
        assert path is not None, f"upstream documents no path {template}"
        ref = path["$ref"]
        if not (self.folder / ref.partition("#")[0]).is_file():
            return None
        item = self._ref(ref, "openapi.json")
        op = item.get(method.lower())
        assert op is not None, f"upstream documents no {method} {template}"
        return dict(op, _file=ref.partition("#")[0])

    def parameter_names(self, op: dict[str, Any]) -> set[str]:
        names = set()
        for p in op.get("parameters", ()):
            if "$ref" in p:
                p = self._ref(p["$ref"], op["_file"])
            names.add(p["name"])
        return names

    def response_schema(self, op: dict[str, Any], status: int) -> dict[str, Any] | None:
        responses = op["responses"]
        assert str(status) in responses, f"{op['operationId']}: upstream documents {sorted(responses)}, not {status}"
        response = responses[str(status)]
        if "$ref" in response:
            response = self._ref(response["$ref"], op["_file"])
        content = (response.get("content") or {}).get("application/json")
        if content is None:
            return None
        schema = content["schema"]
        if "$ref" in schema:
            name = schema["$ref"].partition("#/")[2]
            # the target schema on top of the whole document: its "#/task"-style references resolve
            return {**self.schemas, **self.schemas[name]}
        return dict(schema)


@pytest.fixture(scope="module")
def openapi(upstream_dir: Path) -> OpenApi:
    folder = upstream_dir / "swagger"
    if not (folder / "openapi.json").is_file():
        pytest.skip(f"{folder} holds no openapi.json")
    return OpenApi(folder)


@pytest.fixture
def exporter(tmp_path: Path, small_study: StudyInfo) -> Iterator[Exporter]:
    with SqliteTaskStore(tmp_path / "q.sqlite") as store, \
            FileSystemSource(small_study.directory) as source, \
            Exporter(configuration(), source, store=store) as exporter:
        yield exporter


_TIME_KEYS = re.compile(r"Time(Range)?$")


def _times_are_iso_with_offset(value: Any) -> None:
    """``format: date-time`` (jsonschema checks formats only with extra packages): ISO 8601 with an offset."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, dict):
            continue
        for key, v in item.items():
            if _TIME_KEYS.search(key):
                for text in v if isinstance(v, list) else [v]:
                    assert datetime.fromisoformat(text).tzinfo is not None, (key, text)


def test_every_route_is_an_upstream_path(openapi: OpenApi, exporter: Exporter) -> None:
    app = create_app(exporter, token=TOKEN)
    routes = [r for r in app.routes if isinstance(r, Route) and r.path.startswith(BASE_PATH)]
    assert len(routes) == 15
    for route in routes:
        template = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path.removeprefix(BASE_PATH))
        for method in route.methods or ():
            if method != "HEAD":
                openapi.operation(method, template)


def test_every_answer_is_documented_and_validates(openapi: OpenApi, exporter: Exporter,
                                                  small_study: StudyInfo) -> None:
    study = small_study.study_uid
    series = small_study.series[0].series_uid
    sop = small_study.series[0].instances[0].sop_instance_uid
    checked: list[tuple[str, str, int]] = []

    with TestClient(create_app(exporter, token=TOKEN)) as client:

        def call(method: str, template: str, expect: int, **params: Any) -> Any:
            url = BASE_PATH + template.format(aet="DCM4CHEE", study=study, series=series, instance=sop,
                                              exporterID=params.pop("_exporter", "NOOP"),
                                              taskID=params.pop("_task", 0),
                                              newExporterID=params.pop("_new", "NOOP"))
            r = client.request(method, url, params=params, headers=AUTH)
            assert r.status_code == expect, (method, url, r.status_code, r.text)
            op = openapi.operation(method, template)
            assert op is not None
            unknown = set(params) - openapi.parameter_names(op)
            assert not unknown, f"{op['operationId']}: upstream documents no parameter {unknown}"
            schema = openapi.response_schema(op, r.status_code)
            if schema is not None:
                body = r.json()
                jsonschema.Draft7Validator(schema).validate(body)
                _times_are_iso_with_offset(body)
            checked.append((method, template, r.status_code))
            return r.json() if r.content and "json" in r.headers.get("content-type", "") else None

        first = call("POST", "/aets/{aet}/rs/studies/{study}/export/{exporterID}", 202, batchID="b1",
                     scheduledTime="20991231000000")
        call("POST", "/aets/{aet}/rs/studies/{study}/series/{series}/export/{exporterID}", 202, batchID="b1",
             _exporter="STORESCP")
        call("POST", "/aets/{aet}/rs/studies/{study}/series/{series}/instances/{instance}/export/{exporterID}",
             202, _exporter="STORESCP", batchID="b2")
        call("POST", "/aets/{aet}/rs/studies/{study}/export/{exporterID}", 404, _exporter="NOPE")
        call("POST", "/aets/{aet}/rs/studies/{study}/export/{exporterID}", 400, scheduledTime="soon")
        exporter.run_until_idle()  # NOOP completes, STORESCP fails (nobody listens): times of every kind
        listed = call("GET", "/monitor/export", 200, orderby="createdTime", offset=0, limit=10)
        assert len(listed) == 3 and listed[0]["taskID"] == first["taskID"]
        call("GET", "/monitor/export", 200, ExporterID="STORESCP", status="SCHEDULED", batchID="b2",
             StudyInstanceUID=study, createdTime="20000101-", updatedTime="-20991231",
             dicomDeviceName="dcm-exporter-demo")
        call("GET", "/monitor/export", 400, orderby="nonsense")
        call("GET", "/monitor/export/count", 200, status="COMPLETED")
        batches = call("GET", "/monitor/export/batch", 200)
        assert {b["batchID"] for b in batches} == {"b1", "b2"}
        task_id = first["taskID"]
        call("POST", "/monitor/export/{taskID}/cancel", 204, _task=task_id)
        call("POST", "/monitor/export/{taskID}/cancel", 409, _task=task_id)
        call("POST", "/monitor/export/{taskID}/cancel", 404, _task=999)
        call("POST", "/monitor/export/cancel", 200, status="SCHEDULED")
        call("POST", "/monitor/export/cancel", 400)
        call("POST", "/monitor/export/{taskID}/reschedule", 204, _task=task_id, scheduledTime="20991231000000")
        call("POST", "/monitor/export/{taskID}/reschedule/{exporterID}", 204, _task=task_id, _exporter="STORESCP")
        call("POST", "/monitor/export/{taskID}/reschedule/{exporterID}", 404, _task=task_id, _exporter="NOPE")
        call("POST", "/monitor/export/reschedule", 200, status="CANCELED")
        call("POST", "/monitor/export/reschedule/{newExporterID}", 200, status="SCHEDULED", _new="NOOP")
        call("POST", "/monitor/export/reschedule/{newExporterID}", 404, status="SCHEDULED", _new="NOPE")
        call("DELETE", "/monitor/export/{taskID}", 204, _task=task_id)
        call("DELETE", "/monitor/export/{taskID}", 404, _task=task_id)
        call("DELETE", "/monitor/export", 200, ExporterID="NOOP")
    templates = {(m, t) for m, t, _ in checked}
    # every route but POST /ctrl/reload, whose description (paths/misc.json) is not among the copied files
    assert len(templates) == 14, sorted(templates)


def test_a_batch_none_of_whose_tasks_started_has_no_processing_ranges(exporter: Exporter,
                                                                      small_study: StudyInfo) -> None:
    """A documented deviation: upstream's schema requires the processing time ranges of every batch; a batch
    whose tasks never started has none to give, and we leave them out rather than invent times."""
    with TestClient(create_app(exporter, token=TOKEN)) as client:
        client.post(f"{BASE_PATH}/aets/DCM4CHEE/rs/studies/{small_study.study_uid}/export/NOOP",
                    params={"batchID": "later", "scheduledTime": "20991231000000"}, headers=AUTH)
        (batch,) = client.get(f"{BASE_PATH}/monitor/export/batch").json()
    assert "processingStartTimeRange" not in batch and "processingEndTimeRange" not in batch
    assert batch["tasks"] == {"scheduled": 1} and len(batch["scheduledTimeRange"]) == 2
