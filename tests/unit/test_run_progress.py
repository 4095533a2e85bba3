"""The summary line of ``dcm-exporter run``: counts and rates from the runner's hooks (a fake clock)."""

from __future__ import annotations

import io
from types import SimpleNamespace

from dcm_exporter.cli._run_progress import RunProgress


def _task(task_id: int, status: str = "IN PROCESS") -> SimpleNamespace:
    return SimpleNamespace(task_id=task_id, status=SimpleNamespace(value=status))


def test_the_line_counts_tasks_retries_running_and_rates() -> None:
    now = [100.0]
    lines: list[str] = []
    progress = RunProgress(lambda: 3, live=False, interval=60, emit=lines.append, clock=lambda: now[0])
    progress.started(_task(1))
    progress.started(_task(2))
    for _ in range(50):
        progress.instance(_task(1), SimpleNamespace(size=200_000), SimpleNamespace(kind="completed"))
    progress.instance(_task(2), SimpleNamespace(size=200_000), SimpleNamespace(kind="failed"))
    progress.finished(SimpleNamespace(task=_task(2, "SCHEDULED FOR RETRY")))
    now[0] += 10
    assert progress.line() == ("0 task(s) done; 1 attempt(s) to retry; 3 waiting; 1 running: task 1 (50 instances); "
                               "5.1 instances/s, 1.00 MB/s")
    progress.finished(SimpleNamespace(task=_task(1, "COMPLETED")))
    now[0] += 5
    # rates since the previous line: nothing in the last 5 s
    assert progress.line() == ("1 task(s) done (1 COMPLETED); 1 attempt(s) to retry; 3 waiting; 0 running; "
                               "0.0 instances/s, 0.00 MB/s")
    assert progress.totals() == "1 task(s) done (1 COMPLETED); 1 attempt(s) to retry; 51 instances, 10.0 MB in 15.0 s"


def test_a_store_that_cannot_count_shows_a_question_mark_and_the_live_line_is_erased() -> None:
    def broken() -> int:
        raise OSError("disk gone")

    stream = io.StringIO()
    progress = RunProgress(broken, live=True, interval=0, emit=print, stream=stream, clock=lambda: 1.0)
    assert "? waiting" in progress.line()
    progress._redraw()
    progress.clear()
    assert stream.getvalue().startswith("\r\033[K0 task(s) done; ? waiting; 0 running")
    assert stream.getvalue().endswith("\r\033[K")
