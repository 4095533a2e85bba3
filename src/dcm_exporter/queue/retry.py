"""Retry policy of a queue: what happens to a task after an attempt (``RetryPolicy`` → ``RetryDecision``).

The delay after the n-th failure follows dcm4chee-arc-light, in whole seconds, truncating at each step::

    if n > max_retries: give up (the status stays final)
    d = retry_delay; repeat n - 1 times: d = d * multiplier // 100
    return min(d, max_retry_delay) if max_retry_delay else d

COMPLETED, CANCELED, and WARNING without retry-on-warning are final at once. FAILED (returned or raised) and
WARNING with retry-on-warning count a failure and are retried after that delay, or stay final when the retries
are used up. A failure the transport marks as not retryable is final at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import attrs

from dcm_exporter.models.queue import retry_delay_of
from dcm_exporter.queue.task import TaskStatus

if TYPE_CHECKING:
    from dcm_exporter.models import QueueDescriptor

__all__ = ["RetryDecision", "RetryPolicy"]


@attrs.frozen(kw_only=True)
class RetryDecision:
    """What the manager does with a task after one attempt.

    Attributes:
        status: The task's new status (final, or SCHEDULED FOR RETRY).
        number_of_failures: The task's failure count after the attempt.
        retry_at: When it is tried again (only for SCHEDULED FOR RETRY).
    """

    status: TaskStatus
    number_of_failures: int
    retry_at: datetime | None = None

    @property
    def retry(self) -> bool:
        """Whether the task will be tried again."""
        return self.status is TaskStatus.SCHEDULED_FOR_RETRY


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """The retry settings of one queue (``dcmMaxRetries``, ``dcmRetryDelay``, ...).

    Example:
        >>> from datetime import timedelta
        >>> p = RetryPolicy(max_retries=10, retry_delay=timedelta(seconds=30), retry_delay_multiplier=200,
        ...                 max_retry_delay=timedelta(minutes=10))
        >>> [int(p.delay_for(n).total_seconds()) for n in range(1, 11)]
        [30, 60, 120, 240, 480, 600, 600, 600, 600, 600]
        >>> p.delay_for(11) is None
        True
    """

    max_retries: int = 0
    retry_delay: timedelta = timedelta(minutes=1)
    max_retry_delay: timedelta | None = None
    retry_delay_multiplier: int = 100
    retry_on_warning: bool = False

    @classmethod
    def from_queue(cls, queue: QueueDescriptor) -> RetryPolicy:
        """The policy of a configured queue."""
        return cls(
            max_retries=queue.max_retries,
            retry_delay=queue.retry_delay,
            max_retry_delay=queue.max_retry_delay,
            retry_delay_multiplier=queue.retry_delay_multiplier,
            retry_on_warning=queue.retry_on_warning,
        )

    def delay_for(self, failures: int) -> timedelta | None:
        """Delay before the next attempt after the ``failures``-th failure; ``None`` when retries are used
        up (dcm4che's formula, :func:`~dcm_exporter.models.queue.retry_delay_after`).

        Raises:
            ValueError: ``failures`` is less than 1.
        """
        return retry_delay_of(self, failures)

    def decide(
        self, status: TaskStatus, *, failures: int, now: datetime, retryable: bool = True
    ) -> RetryDecision:
        """Decide the task's next status after an attempt that ended in ``status``.

        Args:
            status: COMPLETED, WARNING, FAILED or CANCELED (the attempt's outcome).
            failures: The task's failure count before this attempt.
            now: The time the attempt ended.
            retryable: ``False`` when the failure cannot be helped by trying again.
        """
        if not status.is_final:
            raise ValueError(f"an attempt ends COMPLETED, WARNING, FAILED or CANCELED, not {status.value}")
        counts = status is TaskStatus.FAILED or (status is TaskStatus.WARNING and self.retry_on_warning)
        if not counts:
            return RetryDecision(status=status, number_of_failures=failures)
        failures += 1
        delay = self.delay_for(failures) if retryable else None
        if delay is None:
            return RetryDecision(status=status, number_of_failures=failures)
        return RetryDecision(
            status=TaskStatus.SCHEDULED_FOR_RETRY, number_of_failures=failures, retry_at=now + delay
        )
