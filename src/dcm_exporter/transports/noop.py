"""The ``noop:`` transport: sends nothing and completes.

dcm4chee-arc uses a ``noop:`` exporter to trigger what happens after a COMPLETED export — storage
commitment (``dcmStgCmtSCP``) or an IAN (``dcmIanDestination``) — without sending any object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dcm_exporter.export import ExportRequest, Outcome
from dcm_exporter.transports.base import BaseTransport

if TYPE_CHECKING:
    from dcm_exporter.models import Configuration, ExporterDescriptor

__all__ = ["NoopTransport", "create_transport"]


class NoopTransport(BaseTransport):
    """Completes every request at once with the message ``NOOP``."""

    #: the :class:`~dcm_exporter.exporter.Exporter` need not look the instances up for this transport
    needs_instances = False

    def __init__(self, destination: str = "noop:nothing") -> None:
        self.destination = destination

    def send(self, request: ExportRequest) -> Outcome:
        """Return COMPLETED with message ``NOOP``; no instance is read."""
        return Outcome.noop(destination=self.destination, entity=request.entity)


def create_transport(exporter: ExporterDescriptor, configuration: Configuration) -> NoopTransport:
    """Factory for the ``noop:`` scheme."""
    return NoopTransport(str(exporter.uri))
