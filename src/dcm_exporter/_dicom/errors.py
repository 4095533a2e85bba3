"""The DICOM package's internal failures; the transport and the actions turn them into
:mod:`dcm_exporter.errors` (:func:`dcm_exporter._dicom.association.transport_error`)."""

from __future__ import annotations

__all__ = [
    "AbortedError",
    "AssociationFailure",
    "ConnectError",
    "FramingError",
    "OversizedError",
    "RejectedError",
    "TimeoutFailure",
]


class FramingError(ValueError):
    """Bytes that do not follow the Part 10, DICOM upper layer or DIMSE encoding rules."""


class AssociationFailure(Exception):
    """The association cannot be used any more."""


class ConnectError(AssociationFailure):
    """TCP connect / TLS handshake failed."""


class RejectedError(AssociationFailure):
    """A-ASSOCIATE-RJ: ``reason`` is decoded (result, source, reason)."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        self.reason = reason
        self.permanent = permanent
        super().__init__(reason)


class AbortedError(AssociationFailure):
    """A-ABORT received, the connection dropped, or the peer broke the protocol."""


class TimeoutFailure(AssociationFailure):
    """No answer in time (association request or DIMSE response)."""


class OversizedError(AbortedError):
    """The peer sent a message (command set or data set) larger than we take: the association is aborted."""
