"""The durable export queue: tasks, stores, retry policy, manager and runner.

``open_store(url)`` opens a store from the URL the CLI's ``--queue`` takes: ``sqlite:PATH`` (the embedded
durable store, ``SqliteTaskStore``), ``postgresql://...`` (``PostgresTaskStore`` in
``dcm_exporter.queue.postgres``, for several processes on several hosts) or ``memory:``
(``InMemoryTaskStore``, for tests and throwaway runs: nothing survives the process).
``TaskList`` and ``BatchList`` are what ``exporter.queue.tasks()`` and ``exporter.queue.batches()`` return:
plain lists that render as one table in Jupyter and convert to a pandas ``DataFrame`` (``to_dataframe()``).
"""

from __future__ import annotations

from dcm_exporter._repr import BatchList, TaskList
from dcm_exporter.queue.manager import TaskManager, TaskResult
from dcm_exporter.queue.memory import InMemoryTaskStore
from dcm_exporter.queue.retry import RetryDecision, RetryPolicy
from dcm_exporter.queue.runner import TaskHooks, TaskRunner
from dcm_exporter.queue.sqlite import SqliteTaskStore
from dcm_exporter.queue.store import Claim, ExporterTarget, TaskStore, Transition
from dcm_exporter.queue.store_url import open_store
from dcm_exporter.queue.task import BatchSummary, ExportTask, NewTask, TaskFilter, TaskStatus, TaskType

__all__ = [
    "BatchList",
    "BatchSummary",
    "Claim",
    "ExportTask",
    "ExporterTarget",
    "InMemoryTaskStore",
    "NewTask",
    "RetryDecision",
    "RetryPolicy",
    "SqliteTaskStore",
    "TaskFilter",
    "TaskHooks",
    "TaskList",
    "TaskManager",
    "TaskResult",
    "TaskRunner",
    "TaskStatus",
    "TaskStore",
    "TaskType",
    "Transition",
    "open_store",
]
