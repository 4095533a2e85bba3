"""Enumerations of dcm4che configuration values; each member's value is the text written to LDAP/JSON."""

from __future__ import annotations

import enum
from typing import Self

__all__ = ["Entity", "InstanceAvailability", "ReoccurredInstances", "TransferRole"]


class _ParseMixin(enum.Enum):
    @classmethod
    def parse(cls, text: str) -> Self:
        """Look a member up by its configuration text, case-insensitively.

        Raises:
            ValueError: unknown text; the message lists the allowed values.
        """
        for member in cls:
            if member.value.lower() == text.strip().lower():
                return member
        allowed = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown {cls.__name__} {text!r}: expected one of {allowed}")


class InstanceAvailability(_ParseMixin, enum.Enum):
    """``dcmInstanceAvailability``: put into Instance Availability Notifications."""

    ONLINE = "ONLINE"
    NEARLINE = "NEARLINE"
    OFFLINE = "OFFLINE"
    UNAVAILABLE = "UNAVAILABLE"


class Entity(_ParseMixin, enum.Enum):
    """``dcmEntity`` of an export rule: the scope of the export task it creates."""

    STUDY = "Study"
    SERIES = "Series"
    INSTANCE = "Instance"


class ReoccurredInstances(_ParseMixin, enum.Enum):
    """``dcmExportReoccurredInstances``: whether an entity is exported again when instances reoccur."""

    NEVER = "NEVER"
    ALWAYS = "ALWAYS"
    REPLACE = "REPLACE"


class TransferRole(_ParseMixin, enum.Enum):
    """``dicomTransferRole`` of a transfer capability."""

    SCU = "SCU"
    SCP = "SCP"
