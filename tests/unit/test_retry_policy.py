"""The retry policy of a queue (``RetryPolicy``) and dcm4che's retry-delay formula, decided case by case.

The formula is written once (``dcm_exporter.models.queue.retry_delay_after``); ``QueueDescriptor.retry_delay_for``
and ``RetryPolicy.delay_for`` must give the same delays for the same settings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dcm_exporter.models import QueueDescriptor
from dcm_exporter.models.queue import retry_delay_after
from dcm_exporter.queue import RetryDecision, RetryPolicy, TaskStatus

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def seconds(delays: list[timedelta | None]) -> list[float | None]:
    return [None if d is None else d.total_seconds() for d in delays]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        # the reference example: PT30S, 200 %, PT10M, 10 retries
        ({"retry_delay": timedelta(seconds=30), "retry_delay_multiplier": 200,
          "max_retry_delay": timedelta(minutes=10)}, [30, 60, 120, 240, 480, 600, 600, 600, 600, 600, None]),
        # whole seconds: a fractional delay is truncated before the first step, and at every step
        ({"retry_delay": timedelta(seconds=7, milliseconds=900), "retry_delay_multiplier": 150},
         [7, 10, 15, 22, 33, 49, 73, 109, 163, 244, None]),
        # a multiplier below 100 shrinks the delay at every step, under the cap as well
        ({"retry_delay": timedelta(seconds=600), "retry_delay_multiplier": 50,
          "max_retry_delay": timedelta(seconds=300)}, [300, 300, 150, 75, 37, 18, 9, 4, 2, 1, None]),
        # a cap below the first delay holds from the first retry
        ({"retry_delay": timedelta(seconds=90), "retry_delay_multiplier": 300,
          "max_retry_delay": timedelta(seconds=60)}, [60] * 10 + [None]),
        # a growing delay reaches the cap exactly and stays there
        ({"retry_delay": timedelta(seconds=25), "retry_delay_multiplier": 200,
          "max_retry_delay": timedelta(seconds=100)}, [25, 50, 100, 100, 100, 100, 100, 100, 100, 100, None]),
        # multiplier 100 without a cap: constant
        ({"retry_delay": timedelta(seconds=90)}, [90] * 10 + [None]),
        # zero delay stays zero
        ({"retry_delay": timedelta(0), "retry_delay_multiplier": 200}, [0] * 10 + [None]),
    ],
)
def test_delay_sequence_is_the_same_in_the_model_and_the_policy(
    settings: dict[str, object], expected: list[int | None]
) -> None:
    queue = QueueDescriptor(queue_name="q", max_retries=10, **settings)  # type: ignore[arg-type]
    policy = RetryPolicy.from_queue(queue)
    from_model = seconds([queue.retry_delay_for(n) for n in range(1, 12)])
    from_policy = seconds([policy.delay_for(n) for n in range(1, 12)])
    assert from_model == from_policy == expected


def test_policy_delays_are_whole_seconds() -> None:
    policy = RetryPolicy(max_retries=3, retry_delay=timedelta(seconds=2, microseconds=999_999),
                         retry_delay_multiplier=150, max_retry_delay=timedelta(seconds=10, milliseconds=500))
    assert [policy.delay_for(n) for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (2, 3, 4)]
    capped = RetryPolicy(max_retries=2, retry_delay=timedelta(seconds=30),
                         max_retry_delay=timedelta(seconds=10, milliseconds=500))
    assert capped.delay_for(1) == timedelta(seconds=10)  # the cap is truncated too


def test_the_last_retry_and_the_one_after() -> None:
    assert retry_delay_after(3, max_retries=3, retry_delay=timedelta(seconds=5), multiplier=100,
                             max_retry_delay=None) == timedelta(seconds=5)
    assert retry_delay_after(4, max_retries=3, retry_delay=timedelta(seconds=5), multiplier=100,
                             max_retry_delay=None) is None


@pytest.mark.parametrize("failures", [0, -1])
def test_failures_below_one_are_refused(failures: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(max_retries=5).delay_for(failures)
    with pytest.raises(ValueError, match="at least 1"):
        QueueDescriptor(queue_name="q", max_retries=5).retry_delay_for(failures)


def test_defaults_are_upstreams() -> None:
    policy = RetryPolicy()
    assert policy.max_retries == 0  # dcmMaxRetries 0: a failure is final at once
    assert policy.retry_delay == timedelta(minutes=1) and policy.max_retry_delay is None
    assert policy.retry_delay_multiplier == 100 and policy.retry_on_warning is False
    assert policy.delay_for(1) is None
    decision = policy.decide(TaskStatus.FAILED, failures=0, now=T0)
    assert decision == RetryDecision(status=TaskStatus.FAILED, number_of_failures=1)
    assert RetryPolicy.from_queue(QueueDescriptor(queue_name="q")) == policy


# --- decide ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [TaskStatus.SCHEDULED, TaskStatus.IN_PROCESS, TaskStatus.SCHEDULED_FOR_RETRY])
def test_an_attempt_cannot_end_in_a_waiting_or_running_status(status: TaskStatus) -> None:
    with pytest.raises(ValueError, match="an attempt ends"):
        RetryPolicy(max_retries=3).decide(status, failures=0, now=T0)


@pytest.mark.parametrize("status", [TaskStatus.COMPLETED, TaskStatus.CANCELED, TaskStatus.WARNING])
def test_final_outcomes_count_no_failure(status: TaskStatus) -> None:
    decision = RetryPolicy(max_retries=3).decide(status, failures=2, now=T0)
    assert decision == RetryDecision(status=status, number_of_failures=2)
    assert not decision.retry and decision.retry_at is None


def test_failed_is_retried_at_now_plus_the_delay_of_that_failure() -> None:
    policy = RetryPolicy(max_retries=2, retry_delay=timedelta(seconds=10), retry_delay_multiplier=300)
    first = policy.decide(TaskStatus.FAILED, failures=0, now=T0)
    assert first == RetryDecision(status=TaskStatus.SCHEDULED_FOR_RETRY, number_of_failures=1,
                                  retry_at=T0 + timedelta(seconds=10))
    assert first.retry
    second = policy.decide(TaskStatus.FAILED, failures=1, now=T0)
    assert second.retry_at == T0 + timedelta(seconds=30) and second.number_of_failures == 2
    last = policy.decide(TaskStatus.FAILED, failures=2, now=T0)
    assert last == RetryDecision(status=TaskStatus.FAILED, number_of_failures=3)


def test_a_failure_that_is_not_retryable_is_final_but_counted() -> None:
    decision = RetryPolicy(max_retries=5).decide(TaskStatus.FAILED, failures=1, now=T0, retryable=False)
    assert decision == RetryDecision(status=TaskStatus.FAILED, number_of_failures=2)


def test_warning_with_retry_on_warning_counts_and_is_retried() -> None:
    policy = RetryPolicy(max_retries=1, retry_delay=timedelta(seconds=4), retry_on_warning=True)
    first = policy.decide(TaskStatus.WARNING, failures=0, now=T0)
    assert first == RetryDecision(status=TaskStatus.SCHEDULED_FOR_RETRY, number_of_failures=1,
                                  retry_at=T0 + timedelta(seconds=4))
    assert policy.decide(TaskStatus.WARNING, failures=1, now=T0) == RetryDecision(
        status=TaskStatus.WARNING, number_of_failures=2)
    # retry-on-warning changes nothing for COMPLETED or CANCELED
    assert policy.decide(TaskStatus.COMPLETED, failures=0, now=T0).number_of_failures == 0
    assert policy.decide(TaskStatus.CANCELED, failures=0, now=T0).number_of_failures == 0
