"""The task queue descriptor (dcm4che object class ``dcmQueue``) and its retry-delay formula."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

import attrs

from dcm_exporter.errors import ConfigurationError
from dcm_exporter.models._fields import (
    bool_field,
    extra_field,
    non_empty,
    object_classes_field,
    optional_duration,
    optional_int,
    optional_str,
    to_schedules,
)
from dcm_exporter.schedule import Schedules

__all__ = ["QueueDescriptor", "RetrySettings", "retry_delay_after", "retry_delay_of"]


def _check_retry_delay(instance: QueueDescriptor, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise ConfigurationError(
            f"queue {instance.queue_name!r}: retry_delay must be a non-negative timedelta, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class QueueDescriptor:
    """A task queue of a device (dcm4che ``dcmQueue``): parallelism, retries, purging, processing windows.

    Examples:
        >>> q = QueueDescriptor(queue_name="Export", max_retries=10, retry_delay=timedelta(seconds=30),
        ...                     retry_delay_multiplier=200, max_retry_delay=timedelta(minutes=10))
        >>> [int(q.retry_delay_for(n).total_seconds()) for n in range(1, 7)]
        [30, 60, 120, 240, 480, 600]
        >>> q.retry_delay_for(11) is None
        True
    """

    queue_name: str = attrs.field(validator=non_empty)
    """``dcmQueueName``."""
    description: str | None = attrs.field(default=None, validator=optional_str)
    """``dicomDescription``."""
    max_tasks_parallel: int = attrs.field(default=1, validator=optional_int(1))
    """``dcmMaxTasksParallel``: tasks processed at once."""
    max_retries: int = attrs.field(default=0, validator=optional_int(0))
    """``dcmMaxRetries``."""
    retry_delay: timedelta = attrs.field(default=timedelta(minutes=1), validator=_check_retry_delay)
    """``dcmRetryDelay``: delay before the first retry."""
    max_retry_delay: timedelta | None = attrs.field(default=None, validator=optional_duration)
    """``dcmMaxRetryDelay``: cap of the growing delay; ``None`` = no cap."""
    retry_delay_multiplier: int = attrs.field(default=100, validator=optional_int(1))
    """``dcmRetryDelayMultiplier``: percent applied per further failure."""
    retry_on_warning: bool = bool_field(False)
    """``dcmRetryOnWarning``: retry WARNING outcomes too."""
    purge_completed_delay: timedelta | None = attrs.field(default=None, validator=optional_duration)
    """``dcmPurgeQueueMessageCompletedDelay``."""
    purge_failed_delay: timedelta | None = attrs.field(default=None, validator=optional_duration)
    """``dcmPurgeQueueMessageFailedDelay``."""
    purge_warning_delay: timedelta | None = attrs.field(default=None, validator=optional_duration)
    """``dcmPurgeQueueMessageWarningDelay``."""
    purge_canceled_delay: timedelta | None = attrs.field(default=None, validator=optional_duration)
    """``dcmPurgeQueueMessageCanceledDelay``."""
    schedules: Schedules = attrs.field(default=Schedules.ALWAYS, converter=to_schedules)
    """``dcmSchedule``: windows in which the queue processes tasks."""
    installed: bool = bool_field(True)
    """``dicomInstalled``: ``False`` pauses the queue."""
    extra: Mapping[str, tuple[str | bytes, ...]] = extra_field()
    """LDAP attributes not modelled here (``dcmJndiName``, ``dcmMaxQueueSize``, ...), kept verbatim."""
    object_classes: tuple[str, ...] = object_classes_field()
    """Object classes as read."""

    def retry_delay_for(self, failures: int) -> timedelta | None:
        """The delay before the next attempt after the ``failures``-th failure, or ``None`` to give up.

        dcm4che's formula (:func:`retry_delay_after`) with this queue's settings.

        Raises:
            ValueError: ``failures`` is less than 1.
        """
        return retry_delay_of(self, failures)


def retry_delay_after(
    failures: int,
    *,
    max_retries: int,
    retry_delay: timedelta,
    multiplier: int,
    max_retry_delay: timedelta | None,
) -> timedelta | None:
    """dcm4che's retry delay after the ``failures``-th failure, or ``None`` when the retries are used up.

    Whole seconds, truncating at each step: ``d = retry_delay``, then ``failures - 1`` times
    ``d = d * multiplier // 100``, then capped at ``max_retry_delay``. A multiplier below 100 shrinks the
    delay at every step, below the cap too. The one formula of the package: ``QueueDescriptor.retry_delay_for``
    and the queue's ``RetryPolicy`` both use it.

    Raises:
        ValueError: ``failures`` is less than 1.
    """
    if failures < 1:
        raise ValueError(f"failures must be at least 1, got {failures}")
    if failures > max_retries:
        return None
    delay = int(retry_delay.total_seconds())
    cap = None if max_retry_delay is None else int(max_retry_delay.total_seconds())
    for _ in range(failures - 1):
        delay = delay * multiplier // 100
        if cap is not None and delay >= cap and multiplier >= 100:
            break  # it only grows from here: the cap holds (and a long run of retries costs no time)
    return timedelta(seconds=delay if cap is None else min(delay, cap))


class RetrySettings(Protocol):
    """The retry settings of a queue, as both :class:`QueueDescriptor` and the queue's ``RetryPolicy`` hold them."""

    @property
    def max_retries(self) -> int: ...

    @property
    def retry_delay(self) -> timedelta: ...

    @property
    def retry_delay_multiplier(self) -> int: ...

    @property
    def max_retry_delay(self) -> timedelta | None: ...


def retry_delay_of(settings: RetrySettings, failures: int) -> timedelta | None:
    """:func:`retry_delay_after` with the settings of ``settings``.

    Raises:
        ValueError: ``failures`` is less than 1.
    """
    return retry_delay_after(
        failures,
        max_retries=settings.max_retries,
        retry_delay=settings.retry_delay,
        multiplier=settings.retry_delay_multiplier,
        max_retry_delay=settings.max_retry_delay,
    )
