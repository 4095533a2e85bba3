"""``MockTransport``: a transport whose behaviour is a function, for tests of code that exports.

Like httpx's ``MockTransport``, it takes a handler ``handler(request) -> Outcome`` and records every
request it was given::

    >>> from dcm_exporter.transports import TransportRegistry
    >>> mock = MockTransport()  # completes every instance
    >>> registry = TransportRegistry(entry_points=False)
    >>> registry.register_scheme("dicom", mock.factory, clobber=True)

Pass ``registry=registry`` to :class:`~dcm_exporter.exporter.Exporter` and every ``dicom:`` exporter
sends to the mock; ``mock.requests`` holds what was sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from dcm_exporter.errors import TransportError
from dcm_exporter.export import ExportRequest, Outcome, OutcomeBuilder
from dcm_exporter.transports.base import BaseTransport

if TYPE_CHECKING:
    from dcm_exporter.models import Configuration, ExporterDescriptor

__all__ = ["MockTransport", "complete_all"]


def complete_all(request: ExportRequest) -> Outcome:
    """A handler that reports every instance of the request as completed (honouring cancel)."""
    builder = OutcomeBuilder.for_request(request, f"mock:{request.exporter.uri}")
    for i, ref in enumerate(request.instances):
        if request.cancel.cancelled:
            return builder.build(remaining=len(request.instances) - i)
        builder.completed(ref)
    return builder.build()


class MockTransport(BaseTransport):
    """A transport that calls ``handler(request)`` and records the requests; ``send`` raises once it is closed.

    Args:
        handler: returns the outcome for a request, or raises (e.g. a
            :class:`~dcm_exporter.errors.TransportError` to simulate an unreachable peer).
            Default: :func:`complete_all`.
    """

    def __init__(self, handler: Callable[[ExportRequest], Outcome] | None = None) -> None:
        self.handler = handler or complete_all
        self.requests: list[ExportRequest] = []
        self.created_for: list[ExporterDescriptor] = []
        self.closed = False
        self._lock = threading.Lock()

    def send(self, request: ExportRequest) -> Outcome:
        """Record ``request`` and return the handler's outcome."""
        if self.closed:
            raise TransportError("MockTransport is closed", retryable=False)
        with self._lock:
            self.requests.append(request)
        return self.handler(request)

    def factory(self, exporter: ExporterDescriptor, configuration: Configuration) -> MockTransport:
        """A transport factory returning this mock (register it for a scheme)."""
        with self._lock:
            self.created_for.append(exporter)
            self.closed = False
        return self
