"""The transport protocol: one small class that sends an :class:`~dcm_exporter.export.ExportRequest`.

A transport sends one export request — the instances of one study, series or instance — to one
destination and returns an :class:`~dcm_exporter.export.Outcome`. It is a small class with
``send(request)``, ``close()`` and a context manager, in the manner of an httpx transport, and declares
what it needs from the caller (``needs_instances``). It never retries: when the export cannot be
performed at all it raises :class:`~dcm_exporter.errors.TransportError` (with ``retryable``) and the
queue's retry policy decides; otherwise it reports every instance in the outcome, usually through an
:class:`~dcm_exporter.export.OutcomeBuilder`.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

if TYPE_CHECKING:
    from dcm_exporter.export import ExportRequest, Outcome
    from dcm_exporter.models import Configuration, ExporterDescriptor

__all__ = ["BaseTransport", "Transport", "TransportFactory"]


# --- the transport protocol ------------------------------------------------------------------------


@runtime_checkable
class Transport(Protocol):
    """Sends export requests to one destination. Created per exporter and reused across tasks.

    Attributes:
        needs_instances: whether the caller must look the request's instances up in the source before
            ``send``. ``False`` for a transport that sends no object (``noop:``): the
            :class:`~dcm_exporter.exporter.Exporter` then neither queries the source nor reports
            "Could not find" when the entity has no instances. :class:`BaseTransport` sets ``True``.
    """

    needs_instances: bool

    def send(self, request: ExportRequest) -> Outcome:
        """Export the request's instances and report what happened.

        Raises:
            TransportError: the export could not be performed at all (``retryable`` tells the queue).
        """
        ...

    def close(self) -> None:
        """Release connections and pools. Idempotent."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


#: ``factory(exporter, configuration) -> Transport``, registered for a URI scheme.
TransportFactory = Callable[["ExporterDescriptor", "Configuration"], Transport]


class BaseTransport:
    """A convenience base class: ``close()`` does nothing and the context manager calls it.

    Subclasses implement ``send``. Using it is optional; any object with the :class:`Transport`
    members will do.
    """

    #: every transport that sends objects needs them looked up; ``noop:`` overrides it
    needs_instances: bool = True
    closed: bool = False

    def send(self, request: ExportRequest) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Mark the transport closed."""
        self.closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
