"""What a user sees when the PostgreSQL task database goes away and comes back.

Each test runs a private PostgreSQL server (``pg_server``: the machine's shared one is never touched) that it
kills with SIGKILL of the postmaster, starts again on the same data, or whose connections it cuts with
``pg_terminate_backend``; the runners are real (``dcm-exporter run --queue postgresql://...`` in a subprocess,
or an :class:`~dcm_exporter.Exporter` in this process) and export real studies to DCMTK storescp.

What must hold: a runner neither crashes nor spins; it says once, in one line that names the queue URL
without its password, that the database is gone and once that it is back; every task ends COMPLETED, each
study sent once (an export that ended while the database was away is recorded when it comes back); no task
stays IN PROCESS. Scheduling while the database is down fails at once with a QueueError (one line in the
CLI), never with a psycopg traceback.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _cli import cli_env, ok_json, run_cli

from _helpers import wait_for
from dcm_exporter.cli._demo import demo_configuration, with_port
from dcm_exporter.codecs import ldif
from dcm_exporter.errors import QueueError
from dcm_exporter.sample import StudyInfo, generate_study

psycopg = pytest.importorskip("psycopg")

pytestmark = [pytest.mark.slow]

PASSWORD = "s3cret"  # trust authentication ignores it: it is there to be kept out of every message
STUDIES = 3
INSTANCES = 200


def _counts(pg_server: Any) -> dict[str, int]:
    rows = pg_server.execute("SELECT status, count(*) FROM dcm_exporter.export_task GROUP BY status")
    return {str(status): int(n) for status, n in rows}


def _tasks(pg_server: Any) -> list[tuple[Any, ...]]:
    return pg_server.execute(
        "SELECT task_id, status, lease_owner, number_of_failures FROM dcm_exporter.export_task ORDER BY task_id"
    )


@pytest.fixture
def archive(tmp_path: Path) -> list[StudyInfo]:
    """Three studies of 200 small instances each: an export takes long enough to be cut in the middle."""
    folder = tmp_path / "archive"
    return [generate_study(folder, series=1, instances_per_series=INSTANCES, kind="small") for _ in range(STUDIES)]


class RunCommand:
    """``dcm-exporter run`` in a subprocess; its stderr goes to a file the test reads while it runs."""

    def __init__(self, tmp_path: Path, queue_url: str, storescp_port: int, studies: list[StudyInfo]) -> None:
        config = tmp_path / "config.ldif"
        config.write_text(ldif.dumps(with_port(demo_configuration(), "STORESCP", storescp_port)))
        self.common = ("--config", str(config), "--queue", queue_url)
        self.tmp_path = tmp_path
        self.source = tmp_path / "archive"
        for study in studies:
            ok_json("export", "STORESCP", "--study", study.study_uid, *self.common, cwd=tmp_path)
        self.stderr_path = tmp_path / "run.stderr"
        self._stderr = self.stderr_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dcm_exporter.cli", "run", *self.common, "--source", str(self.source),
             "--progress-interval", "0", "--poll-interval", "0.2"],
            cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=self._stderr, text=True,
            preexec_fn=_sigint_at_default,
        )

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> tuple[int, str, str]:
        """Ctrl-C; the exit status, stdout and stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=90)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.communicate()
            self._stderr.close()
        return self.proc.returncode, out, self.stderr()


def _sigint_at_default() -> None:
    # a suite started in the background passes SIGINT on as ignored: the child would never see the Ctrl-C
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def run_command(tmp_path: Path) -> Iterator[list[RunCommand]]:
    started: list[RunCommand] = []
    yield started
    for command in started:
        if command.proc.poll() is None:
            command.stop()


def _check_all_sent_once(code: int, out: str, err: str, storescp: Any, pg_server: Any) -> None:
    assert code == 0, out + err
    assert "Traceback" not in err, err
    assert PASSWORD not in out + err
    # every study sent once: an export that ended while the database was away was recorded, not repeated
    assert f"stopped: {STUDIES} task(s) done ({STUDIES} COMPLETED); {STUDIES * INSTANCES} instances" in out, out
    assert len(storescp.files()) == STUDIES * INSTANCES
    assert all(status == "COMPLETED" and owner is None for _, status, owner, _ in _tasks(pg_server)), _tasks(
        pg_server
    )


def test_run_goes_on_when_the_database_is_killed_and_started_again(
    tmp_path: Path, pg_server: Any, storescp: Any, archive: list[StudyInfo], run_command: list[RunCommand]
) -> None:
    url = pg_server.url(password=PASSWORD)
    shown = f"postgresql://postgres@127.0.0.1:{pg_server.port}/postgres"
    run = RunCommand(tmp_path, url, storescp.port, archive)
    run_command.append(run)
    assert wait_for(lambda: _counts(pg_server).get("IN PROCESS", 0) >= 1 and len(storescp.files()) >= 20,
                    timeout=120), run.stderr()

    pg_server.kill()  # in the middle of a study: its export goes on, its end cannot be recorded
    assert wait_for(lambda: f"task database {shown}: connection lost (" in run.stderr(), timeout=120), run.stderr()
    # the study that was running is sent completely while the database is away
    assert wait_for(lambda: len(storescp.files()) >= INSTANCES, timeout=120)
    assert run.proc.poll() is None, run.stderr()

    pg_server.start()
    assert wait_for(lambda: _counts(pg_server) == {"COMPLETED": STUDIES}, timeout=180), (_tasks(pg_server),
                                                                                          run.stderr())
    code, out, err = run.stop()
    _check_all_sent_once(code, out, err, storescp, pg_server)
    assert f"({shown.replace('postgres@', 'postgres:***@')})" in out  # the banner names the queue, masked
    assert f"task database {shown}: connected again after " in err, err
    # one line when it went, one when it came back (and the wake-up listener's own), not one per retry
    lines = err.strip().splitlines()
    assert len(lines) <= 6, err
    assert all("WARNING" in line for line in lines), err


def test_a_runner_waits_out_a_long_outage_with_back_off_and_records_what_it_did(
    tmp_path: Path, pg_server: Any, storescp: Any, archive: list[StudyInfo], caplog: pytest.LogCaptureFixture
) -> None:
    """Down for longer than ``reconnect_timeout``: store operations fail; the runner reports it (ERROR, one
    line), backs off, keeps the end of the study it exported, and records it when the database is back."""
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.queue.postgres import PostgresTaskStore
    from dcm_exporter.sources import FileSystemSource

    configuration = with_port(demo_configuration(), "STORESCP", storescp.port)
    shown = f"postgresql://postgres@127.0.0.1:{pg_server.port}/postgres"
    caplog.set_level(logging.DEBUG, logger="dcm_exporter.queue")
    started: list[int] = []
    store = PostgresTaskStore(pg_server.url(password=PASSWORD), reconnect_timeout=1.0, connect_timeout=1.0)
    source = FileSystemSource(tmp_path / "archive")
    with store, source, Exporter(configuration, source, store=store) as exporter:
        tasks = [exporter.schedule_export("STORESCP", study.study_uid) for study in archive]
        exporter.on_task_started(lambda task: started.append(task.task_id))
        exporter.start(poll_interval=0.1)
        runner = exporter._runner  # type: ignore[attr-defined]
        assert wait_for(lambda: len(started) >= 1 and len(storescp.files()) >= 20, timeout=120)

        pg_server.kill()
        assert wait_for(lambda: runner.store_error is not None, timeout=120)
        assert wait_for(lambda: len(storescp.files()) >= INSTANCES, timeout=120)  # the study ends meanwhile
        # the runner goes on failing (recording that end, claiming), with back-off, until the server is back
        assert wait_for(lambda: sum("failed again" in r.getMessage() for r in caplog.records) >= 2, timeout=120)
        assert all(w.thread is not None and w.thread.is_alive() for w in runner._all_workers())
        error = runner.store_error
        assert isinstance(error, QueueError)
        assert str(error).startswith(f"task database {shown}: ") and "did not come back within 1 s" in str(error)
        assert "Connection refused" in str(error)  # libpq's reason, not the pool's "couldn't get a connection"
        assert isinstance(error.__cause__, psycopg.OperationalError)

        pg_server.start()
        assert wait_for(lambda: all(exporter.queue.task(t.task_id).status.value == "COMPLETED" for t in tasks),
                        timeout=180)
        assert wait_for(lambda: runner.store_error is None, timeout=30)
        exporter.stop()

    assert sorted(started) == sorted(t.task_id for t in tasks), started  # each study performed once
    assert len(storescp.files()) == STUDIES * INSTANCES
    records = [r for r in caplog.records if r.name.startswith("dcm_exporter")]
    assert not [r for r in records if r.exc_info], "no tracebacks"
    assert PASSWORD not in "\n".join(r.getMessage() for r in records)
    errors = [r.getMessage() for r in records if r.levelno >= logging.ERROR]
    # once per kind of failure (taking tasks, recording an end, extending leases), not once per retry
    assert 1 <= len(errors) <= 4, errors
    assert all(shown in message for message in errors), errors
    assert any("works again" in r.getMessage() for r in records)


def test_scheduling_while_the_database_is_down_is_a_queue_error(
    tmp_path: Path, pg_server: Any, storescp: Any, archive: list[StudyInfo]
) -> None:
    from dcm_exporter.exporter import Exporter
    from dcm_exporter.queue import open_store
    from dcm_exporter.queue.postgres import PostgresTaskStore
    from dcm_exporter.sources import FileSystemSource

    configuration = with_port(demo_configuration(), "STORESCP", storescp.port)
    url = pg_server.url(password=PASSWORD)
    shown = f"postgresql://postgres@127.0.0.1:{pg_server.port}/postgres"
    store = PostgresTaskStore(url, reconnect_timeout=2.0, connect_timeout=2.0)
    source = FileSystemSource(tmp_path / "archive")
    with store, source, Exporter(configuration, source, store=store) as exporter:
        exporter.schedule_export("STORESCP", archive[0].study_uid)
        pg_server.kill()
        outcome: list[BaseException | None] = []

        def schedule() -> None:
            try:
                exporter.schedule_export("STORESCP", archive[1].study_uid)
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=schedule, daemon=True)
        thread.start()
        thread.join(timeout=120)  # bounded: reconnect_timeout, not forever
        assert not thread.is_alive(), "schedule_export did not return while the database was down"
    error = outcome[0]
    assert isinstance(error, QueueError), repr(error)
    assert str(error).startswith(f"task database {shown}: schedule failed and the database did not come back "
                                 "within 2 s: ")
    assert "Connection refused" in str(error)
    assert isinstance(error.__cause__, psycopg.OperationalError)
    assert PASSWORD not in str(error)

    # a store opened while the database is down: one error at once
    with pytest.raises(QueueError) as opened:
        open_store(url)
    assert str(opened.value).startswith(f"cannot connect to the task database {shown}: ")
    assert PASSWORD not in str(opened.value)

    pg_server.start()  # the first task was committed before the kill; the second never was
    assert _counts(pg_server) == {"SCHEDULED": 1}


def test_export_while_the_database_is_down_is_one_line_and_a_failure_status(
    tmp_path: Path, pg_server: Any, small_study: StudyInfo
) -> None:
    config = tmp_path / "config.ldif"
    config.write_text(ldif.dumps(demo_configuration()))
    url = pg_server.url(password=PASSWORD)
    ok_json("export", "STORESCP", "--study", small_study.study_uid, "--config", str(config), "--queue", url,
            cwd=tmp_path)
    pg_server.kill()
    result = run_cli("export", "STORESCP", "--study", small_study.study_uid, "--config", str(config), "--queue",
                     url, cwd=tmp_path, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"error: cannot connect to the task database postgresql://postgres@127.0.0.1:{pg_server.port}/postgres: "
    ), lines
    assert "Connection refused" in lines[0]
    assert PASSWORD not in result.stdout + result.stderr


def test_run_survives_its_connections_being_cut(
    tmp_path: Path, pg_server: Any, storescp: Any, archive: list[StudyInfo], run_command: list[RunCommand]
) -> None:
    """``pg_terminate_backend`` of every connection of the runner, four times a second while it exports."""
    run = RunCommand(tmp_path, pg_server.url(password=PASSWORD), storescp.port, archive)
    run_command.append(run)
    assert wait_for(lambda: _counts(pg_server).get("IN PROCESS", 0) >= 1, timeout=120), run.stderr()
    cuts = 0  # rounds that cut connections of the runner while it had tasks IN PROCESS
    deadline = time.monotonic() + 300
    while _counts(pg_server).get("COMPLETED", 0) < STUDIES and run.proc.poll() is None:
        assert time.monotonic() < deadline, (_tasks(pg_server), run.stderr())
        rows = pg_server.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'dcm_exporter' AND pid <> pg_backend_pid()"
        )
        if int(rows[0][0]) and _counts(pg_server).get("IN PROCESS", 0):
            cuts += 1
        time.sleep(0.25)
    code, out, err = run.stop()
    assert cuts >= 2, "the test cut too few connections while tasks ran: it proved little"
    _check_all_sent_once(code, out, err, storescp, pg_server)
    assert "ERROR" not in err, err  # transparent: each cut operation ran again on a fresh connection
