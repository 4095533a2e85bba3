"""The monitoring page in a real browser (headless Chromium via Selenium) against ``dcm-exporter serve``.

The page lists the tasks, shows why instances failed (the peer answers every C-STORE with 0xA700), and its
Cancel button cancels a scheduled task through the REST API with the bearer token typed into the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("httpx2")

from _helpers import wait_for
from _web import Served, start_serve
from dcm_exporter.cli._demo import demo_configuration, with_port
from dcm_exporter.codecs import ldif
from dcm_exporter.models import ExporterDescriptor
from dcm_exporter.sample import StudyInfo
from dcm_exporter.testing import StoreSCP

BASE = "/dcm4chee-arc"


def _row(browser: Any, task_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, f'tr[data-task-id="{task_id}"]')


def _status_in_page(browser: Any, task_id: str) -> str:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        return str(_row(browser, task_id).get_attribute("data-status"))
    except (NoSuchElementException, StaleElementReferenceException):  # the page is being refreshed
        return ""


def _text(browser: Any, element_id: str) -> str:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        return str(browser.find_element(By.ID, element_id).text)
    except (NoSuchElementException, StaleElementReferenceException):  # the page is being refreshed
        return ""


def _rest_status(served: Served, task_id: str) -> str:
    (task,) = served.get(f"{BASE}/monitor/export", params={"taskID": task_id}).json()
    return str(task["status"])


@pytest.mark.slow
def test_page_lists_shows_failure_reasons_and_cancels(tmp_path: Path, browser: Any,
                                                       small_study: StudyInfo) -> None:
    from selenium.webdriver.common.by import By

    refusing = StoreSCP(status=0xA700).start()  # every C-STORE: Out of Resources
    try:
        configuration = with_port(demo_configuration(), "STORESCP", refusing.port).put_exporter(
            ExporterDescriptor(exporter_id="NOOP", uri="noop:nothing", queue_name="Export1", ae_title="DCM4CHEE"))
        config = tmp_path / "config.ldif"
        config.write_text(ldif.dumps(configuration))
        served = start_serve(tmp_path, "--config", str(config), "--queue", f"sqlite:{tmp_path / 'q.sqlite'}",
                             "--source", str(small_study.directory), "--poll-interval", "0.1", "--refresh", "1")
        try:
            failing = served.post(f"{BASE}/aets/DCM4CHEE/rs/studies/{small_study.study_uid}/export/STORESCP")
            waiting = served.post(f"{BASE}/aets/DCM4CHEE/rs/studies/{small_study.study_uid}/export/NOOP",
                                  params={"scheduledTime": "20991231000000"})
            assert failing.status_code == waiting.status_code == 202
            failing_id, waiting_id = failing.json()["taskID"], waiting.json()["taskID"]
            assert wait_for(lambda: _rest_status(served, failing_id) not in ("SCHEDULED", "IN PROCESS"), timeout=60)

            # the list
            browser.get(served.url + "/ui/export")
            assert "Export tasks" in browser.title
            assert _status_in_page(browser, waiting_id) == "SCHEDULED"
            assert _status_in_page(browser, failing_id) == _rest_status(served, failing_id)
            row = _row(browser, failing_id)
            assert "failed:6" in row.find_element(By.CSS_SELECTOR, "td.message").text

            # the failure reasons of the task
            row.find_element(By.LINK_TEXT, failing_id).click()
            assert wait_for(lambda: browser.find_elements(By.ID, "failures"), timeout=30)
            reasons = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#failures td.reason")]
            assert len(reasons) == 6 and all("Out of Resources" in r for r in reasons), reasons
            uids = {td.text for td in browser.find_elements(By.CSS_SELECTOR, "#failures td.uid")}
            assert uids == {i.sop_instance_uid for i in small_study.instances}

            # cancel without the token: refused, said on the page
            browser.get(served.url + "/ui/export")
            _row(browser, waiting_id).find_element(By.CSS_SELECTOR, "button.cancel").click()
            assert wait_for(lambda: "refused (401)" in _text(browser, "message"), timeout=30)
            assert _rest_status(served, waiting_id) == "SCHEDULED"

            # with the token: cancelled, and the refreshed list shows it
            browser.find_element(By.ID, "token").send_keys(served.token or "")
            _row(browser, waiting_id).find_element(By.CSS_SELECTOR, "button.cancel").click()
            assert wait_for(lambda: _status_in_page(browser, waiting_id) == "CANCELED", timeout=30)
            assert "Cancel: done" in browser.find_element(By.ID, "message").text
            assert _rest_status(served, waiting_id) == "CANCELED"
            assert not _row(browser, waiting_id).find_elements(By.CSS_SELECTOR, "button.cancel")

            # reschedule it from its own page: SCHEDULED again (for now), and the NOOP export completes
            _row(browser, waiting_id).find_element(By.LINK_TEXT, waiting_id).click()
            assert wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "button.reschedule"), timeout=30)
            browser.find_element(By.CSS_SELECTOR, "button.reschedule").click()
            assert wait_for(lambda: _rest_status(served, waiting_id) == "COMPLETED", timeout=60)
            assert wait_for(lambda: _text(browser, "task-status") == "COMPLETED", timeout=30)

            # filters: the same parameters as the REST list
            browser.get(served.url + "/ui/export?ExporterID=NOOP&status=COMPLETED")
            ids = [r.get_attribute("data-task-id") for r in browser.find_elements(By.CSS_SELECTOR, "#tasks tbody tr")]
            assert ids == [waiting_id]
        finally:
            code = served.stop()
        assert code == 0, served.output()
    finally:
        refusing.stop()


@pytest.mark.slow
def test_page_pages_through_tasks_and_batches(tmp_path: Path, browser: Any, small_study: StudyInfo) -> None:
    """More tasks (batches) than one page shows: the page says which rows it shows and links to the others,
    keeping the filters."""
    from selenium.webdriver.common.by import By

    config = tmp_path / "config.ldif"
    config.write_text(ldif.dumps(demo_configuration()))
    served = start_serve(tmp_path, "--config", str(config), "--queue", f"sqlite:{tmp_path / 'q.sqlite'}",
                         "--source", str(small_study.directory), "--refresh", "0")
    try:
        created = []
        for batch in ("one", "two", "three"):
            r = served.post(f"{BASE}/aets/DCM4CHEE/rs/studies/{small_study.study_uid}/export/STORESCP",
                            params={"scheduledTime": "20991231000000", "batchID": batch})
            assert r.status_code == 202, r.text
            created.append(r.json()["taskID"])

        def shown(table: str, attribute: str) -> list[str]:
            rows = browser.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr[{attribute}]")
            return [str(row.get_attribute(attribute)) for row in rows]

        browser.get(served.url + "/ui/export?status=SCHEDULED&orderby=createdTime&limit=2")
        assert shown("tasks", "data-task-id") == created[:2]
        assert _text(browser, "summary") == "1–2 of 3 task(s)"
        assert not browser.find_elements(By.ID, "previous-page")
        browser.find_element(By.ID, "next-page").click()
        assert wait_for(lambda: _text(browser, "summary") == "3–3 of 3 task(s)", timeout=30)
        assert shown("tasks", "data-task-id") == created[2:]
        assert "status=SCHEDULED" in browser.current_url and "orderby=createdTime" in browser.current_url
        assert not browser.find_elements(By.ID, "next-page")
        browser.find_element(By.ID, "previous-page").click()
        assert wait_for(lambda: _text(browser, "summary") == "1–2 of 3 task(s)", timeout=30)

        browser.get(served.url + "/ui/batches?orderby=createdTime&limit=2")
        assert shown("batches", "data-batch-id") == ["one", "two"]
        browser.find_element(By.ID, "next-page").click()
        assert wait_for(lambda: shown("batches", "data-batch-id") == ["three"], timeout=30)
        assert _text(browser, "summary") == "3–3 of 3 batch(es)"
        browser.get(served.url + "/ui/batches?limit=0")  # a bad parameter: said, as on the task list
        assert "limit=0 must be at least 1" in _text(browser, "filter-error")
    finally:
        code = served.stop()
    assert code == 0, served.output()
