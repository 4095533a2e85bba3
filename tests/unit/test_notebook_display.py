"""Jupyter display: collection tables, single remote AEs / queues, schedule week grids, task durations, the
IPython formatter registration (a real IPython shell), the pictures (matplotlib) and the progress bar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from _helpers import parse
from dcm_exporter import _plots
from dcm_exporter._progress import NotebookProgress, in_notebook
from dcm_exporter._repr import TaskList, duration_text, task_duration
from dcm_exporter.cli._demo import demo_configuration
from dcm_exporter.models import (
    Configuration,
    ExporterDescriptor,
    ExportRule,
    QueueDescriptor,
    WebApplication,
)
from dcm_exporter.notebook import register, schedule_html, to_html
from dcm_exporter.queue import ExportTask, TaskStatus
from dcm_exporter.schedule import Schedules

T0 = datetime(2025, 1, 31, 22, 0, tzinfo=UTC)


def config() -> Configuration:
    demo = demo_configuration()
    arc = demo.device("dcm-exporter-demo")
    arc = attrs.evolve(
        arc,
        exporters=(*arc.exporters, ExporterDescriptor(
            exporter_id="WEB", uri="stow:https://user:s3cret@pacs.example/rs", queue_name="Export2",
            description="STOW-RS <night>", schedules=["hour=18-6"], ian_destinations=["PACS"])),
        queues=(*arc.queues, QueueDescriptor(queue_name="Export2", max_retries=5, schedules=["hour=18-6"])),
        web_applications=(WebApplication(name="DCM4CHEE-RS", service_path="/dcm4chee-arc/aets/DCM4CHEE/rs",
                                         service_classes=("STOW_RS",), properties={"bearer-token": "abc"}),),
        export_rules=(ExportRule(name="CT to WEB", entity="Series", exporter_ids=("WEB",),
                                 conditions=("Modality=CT",)),),
    )
    return demo.replace_device(arc)


def cells(markup: str | None) -> list[str]:
    assert markup is not None
    return [text for text, _ in parse(markup).cells]


def test_configuration_collections_render_as_one_table_each() -> None:
    c = config()
    exporters = cells(to_html(c.exporters))
    assert {"STORESCP", "WEB", "dicom:STORESCP", "Export2", "IAN PACS", "STOW-RS <night>"} <= set(exporters)
    assert "stow:https://user:***@pacs.example/rs" in exporters and not any("s3cret" in x for x in exporters)
    assert "2 exporter(s)" in to_html(c.exporters)  # type: ignore[operator]
    queues = cells(to_html(c.queues))
    assert {"Export1", "Export2", "hour=18-6 dayOfWeek=*", "always"} <= set(queues)
    apps = cells(to_html(c.web_applications))
    assert {"DCM4CHEE-RS", "/dcm4chee-arc/aets/DCM4CHEE/rs", "STOW_RS"} <= set(apps)
    rules = cells(to_html(c.export_rules))
    assert {"CT to WEB", "Series", "WEB", "Modality=CT"} <= set(rules)
    aes = cells(to_html([c.remote_ae("STORESCP")]))
    assert {"STORESCP", "storescp", "localhost", "11117"} <= set(aes)


def test_single_remote_ae_queue_and_web_application() -> None:
    c = config()
    ae = cells(to_html(c.remote_ae("STORESCP")))
    assert ae[ae.index("hostname") + 1] == "localhost" and ae[ae.index("port") + 1] == "11117"
    queue = to_html(c.queues["Export2"])
    assert queue is not None and "max_retries" in cells(queue) and "dcm-exporter-week" in queue  # with its grid
    assert "dcm-exporter-week" not in (to_html(c.queues["Export1"]) or "")  # always open: no grid
    app = cells(to_html(c.web_applications["DCM4CHEE-RS"]))
    assert "bearer-token=***" in app and not any("abc" in x for x in app)


def test_other_objects_are_left_to_ipython() -> None:
    assert to_html([1, 2]) is None and to_html({"a": 1}) is None and to_html(()) is None and to_html(3) is None
    mixed = [ExporterDescriptor(exporter_id="A", uri="noop:nothing", queue_name="Q"), QueueDescriptor(queue_name="Q")]
    assert to_html(mixed) is None


def test_schedule_week_grid() -> None:
    schedules = Schedules.parse("hour=18-6 dayOfWeek=1-5")
    markup = schedule_html(schedules)
    parsed = parse(markup)
    grid = [style for text, style in parsed.cells if text == "" and "background" in style]
    assert len(grid) == 7 * 24
    open_cell, closed_cell = "background:#43a047", "background:#eeeeee"
    monday = grid[:24]
    assert [open_cell in s for s in monday] == [h <= 6 or h >= 18 for h in range(24)]
    assert all(closed_cell in s for s in grid[6 * 24:])  # Sunday closed
    assert "Mon 18:00 100 % open" in markup and "Sun 20:00 0 % open" in markup
    # a cron window open for half of an hour is shaded between the two
    half = _plots.schedule_grid(Schedules.parse("cron:0-29 9 * * *"))
    assert half[2][9] == pytest.approx(0.5) and half[2][10] == 0.0


def task(task_id: int, status: TaskStatus, seconds: float | None, exporter: str = "STORESCP",
         **kw: object) -> ExportTask:
    start = T0 + timedelta(minutes=10 * task_id)
    return ExportTask(task_id=task_id, created_time=T0, updated_time=T0, device_name="dev", queue_name="Export1",
                      exporter_id=exporter, study_uid=f"1.2.{task_id}", scheduled_time=T0, status=status,
                      processing_start_time=None if seconds is None else start,
                      processing_end_time=None if seconds is None else start + timedelta(seconds=seconds),
                      **kw)  # type: ignore[arg-type]


def test_task_table_has_a_duration_column_and_wraps_long_outcomes() -> None:
    long = "Export Study[uid=1.2.3] to AE: STORESCP - completed:0, failed:20 " + "x" * 300
    tasks = TaskList([task(1, TaskStatus.COMPLETED, 12.34, outcome_message="done"),
                      task(2, TaskStatus.FAILED, 245, error_message=long), task(3, TaskStatus.SCHEDULED, None)])
    parsed = parse(tasks._repr_html_())
    texts = [t for t, _ in parsed.cells]
    assert "duration" in texts and "12.3 s" in texts and "4 min 05 s" in texts
    outcome_style = dict(parsed.cells)[long]
    assert "white-space:normal" in outcome_style and "max-width" in outcome_style
    assert task_duration(tasks[2]) is None and duration_text(None) == ""


def history() -> TaskList:
    statuses = [TaskStatus.COMPLETED, TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.WARNING]
    return TaskList(task(i, statuses[i % 4], 10.0 + i, exporter=("STORESCP", "WEB")[i % 2], number_of_instances=20)
                    for i in range(1, 25))


def test_plots_draw_what_the_tasks_say() -> None:
    pytest.importorskip("matplotlib", reason="the plots need matplotlib (notebook extra)")
    tasks = history()
    figure = tasks.plot()
    status_ax, rate_ax, time_ax = figure.axes
    bars = status_ax.patches
    assert sum(b.get_height() for b in bars) == len(tasks)  # every task in exactly one bar
    legend = [t.get_text() for t in status_ax.get_legend().get_texts()]
    assert legend == ["COMPLETED", "WARNING", "FAILED"]
    rates = {label.get_text(): bar.get_width() for label, bar in zip(rate_ax.get_yticklabels(), rate_ax.patches,
                                                                       strict=True)}
    web = [t for t in tasks if t.exporter_id == "WEB"]
    expected = sum(t.number_of_instances for t in web) / sum(10.0 + t.task_id for t in web)
    assert rates["WEB"] == pytest.approx(expected)
    assert [t.get_text() for t in time_ax.get_yticklabels()] == ["STORESCP", "WEB"]
    png = figure_png(figure)
    assert png.startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="unknown plot kind"):
        tasks.plot("pie")
    assert TaskList().plot("status").axes[0].texts[0].get_text() == "no tasks"


def figure_png(figure: object) -> bytes:
    from dcm_exporter.notebook import _figure_png

    return _figure_png(figure)


def test_schedule_plot_is_the_grid() -> None:
    pytest.importorskip("matplotlib", reason="the plots need matplotlib (notebook extra)")
    schedules = Schedules.parse("hour=18-6 dayOfWeek=1-5")
    figure = _plots.plot_schedule(schedules)
    image = figure.axes[0].images[0].get_array()
    assert image.shape == (7, 24)
    assert image.tolist() == _plots.schedule_grid(schedules)
    assert figure.axes[0].get_title() == "Open: hour=18-6 dayOfWeek=1-5"


def test_formatters_registered_with_a_real_ipython_shell() -> None:
    pytest.importorskip("IPython", reason="needs IPython (test extra, via ipykernel)")
    pytest.importorskip("matplotlib", reason="the plots need matplotlib (notebook extra)")
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        assert register(shell)
        fmt = shell.display_formatter.format
        data, _ = fmt(config().exporters)
        assert "dicom:STORESCP" in data["text/html"]
        data, _ = fmt(Schedules.parse("hour=18-6"))
        assert "dcm-exporter-week" in data["text/html"]
        data, _ = fmt([1, 2])  # not ours: the plain repr only
        assert "text/html" not in data and data["text/plain"] == "[1, 2]"
        data, _ = fmt(history())  # a TaskList keeps its own table
        assert "export task(s)" in data["text/html"]
        data, _ = fmt(history().plot("status"))
        assert data["image/png"].startswith(b"\x89PNG")
        assert not in_notebook()  # a terminal shell is not a notebook: no progress bar there
    finally:
        InteractiveShell.clear_instance()


def test_progress_is_silent_outside_a_notebook(capsys: pytest.CaptureFixture[str]) -> None:
    with NotebookProgress("export to X", total=2) as bar:
        bar.advance(outcome="completed")
        bar.advance(outcome="failed")
        assert not bar.shown
    assert bar.done == 2 and bar.counts == {"completed": 1, "failed": 1}
    assert capsys.readouterr() == ("", "")


def test_progress_html_counts_and_never_exceeds_its_total() -> None:
    bar = NotebookProgress("export queue", total=2, unit="tasks", enabled=False)
    for _ in range(3):  # a retry: three attempts for two tasks
        bar.advance(outcome="COMPLETED")
    markup = bar._html()
    assert "value='3' max='3'" in markup and "3 / 3 tasks" in markup and "COMPLETED: 3" in markup
