"""DIMSE status codes: what kind of answer a status is, and what it means (DICOM PS3.7 Annex C).

Every place of the package that reads a status a peer sent, or one a test SCP answers with, classifies it
here: the C-STORE tally of the ``dicom:`` transport, the N-ACTION-RSP of a storage commitment request, the
N-CREATE-RSP of an IAN, and the test kit's Store SCP deciding whether an object counts as stored.

PS3.7 Annex C sorts the codes into:

- success: ``0x0000``;
- warning (the operation was performed, with a remark): ``0x0001``, ``0x0107``, ``0x0116`` and ``0xBxxx``;
- pending (more responses follow: C-FIND, C-GET, C-MOVE): ``0xFF00`` and ``0xFF01``;
- cancel: ``0xFE00``;
- failure: everything else — ``0xA7xx`` (out of resources), ``0xA9xx``, ``0xCxxx``, the general
  ``0x01xx`` / ``0x02xx`` codes (``0x0110`` processing failure, ``0x0122`` SOP class not supported, ...)
  and any code the standard does not assign.

Upstream (dcm4chee-arc) tallies C-STORE responses with the mask ``status & 0xB000 == 0xB000`` instead. For every
status PS3.4 B.2.3 allows in a C-STORE-RSP both agree; they differ only for codes no C-STORE SCP may send
(``0x0001``, ``0x0107``, ``0x0116``: a warning here, failed there; ``0xFxxx``: not stored here, a warning there),
a difference listed in ``docs/explanation/deviations.md``.

>>> [status_category(s).value for s in (0x0000, 0x0001, 0xB007, 0xFF00, 0xFE00, 0xA700, 0x0110)]
['success', 'warning', 'warning', 'pending', 'cancel', 'failure', 'failure']
>>> status_meaning(0xA7FE), status_meaning(0x0122), status_meaning(0xB001)
('Out of Resources', 'SOP Class not supported', '')
>>> status_text("N-CREATE", 0x0110, "database down")
'N-CREATE status 0x0110 (Processing failure): database down'
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = [
    "STATUS_MEANINGS",
    "StatusCategory",
    "is_performed",
    "status_category",
    "status_meaning",
    "status_text",
]


class StatusCategory(enum.Enum):
    """The kind of a DIMSE status (PS3.7 Annex C)."""

    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"
    PENDING = "pending"
    CANCEL = "cancel"


_WARNINGS = frozenset({0x0001, 0x0107, 0x0116})


def status_category(status: int) -> StatusCategory:
    """The :class:`StatusCategory` of a DIMSE status code (PS3.7 Annex C); unassigned codes are failures."""
    if status == 0x0000:
        return StatusCategory.SUCCESS
    if status in _WARNINGS or status & 0xF000 == 0xB000:
        return StatusCategory.WARNING
    if status in (0xFF00, 0xFF01):
        return StatusCategory.PENDING
    if status == 0xFE00:
        return StatusCategory.CANCEL
    return StatusCategory.FAILURE


def is_performed(status: int) -> bool:
    """Whether a final response's status says the operation was performed: success or a warning."""
    return status_category(status) in (StatusCategory.SUCCESS, StatusCategory.WARNING)


#: Meanings of the status codes of PS3.7 Annex C and PS3.4 B.2.3 (C-STORE), as messages name them.
STATUS_MEANINGS: Mapping[int, str] = {
    0x0001: "Requested optional Attributes are not supported",
    0x0105: "No such attribute",
    0x0106: "Invalid attribute value",
    0x0107: "Attribute list error",
    0x0110: "Processing failure",
    0x0111: "Duplicate SOP Instance",
    0x0112: "No such object instance",
    0x0113: "No such event type",
    0x0114: "No such argument",
    0x0115: "Invalid argument value",
    0x0116: "Attribute Value Out of Range",
    0x0117: "Invalid object instance",
    0x0118: "No such SOP Class",
    0x0119: "Class-Instance conflict",
    0x0120: "Missing attribute",
    0x0121: "Missing attribute value",
    0x0122: "SOP Class not supported",
    0x0123: "No such action",
    0x0124: "Not authorized",
    0x0210: "Duplicate invocation",
    0x0211: "Unrecognized operation",
    0x0212: "Mistyped argument",
    0x0213: "Resource limitation",
    0xA700: "Out of Resources",
    0xA900: "Data Set does not match SOP Class",
    0xB000: "Coercion of data elements",
    0xB006: "Elements discarded",
    0xB007: "Data Set does not match SOP Class",
    0xC000: "Cannot understand",
    0xFE00: "Cancel",
    0xFF00: "Pending",
    0xFF01: "Pending (optional keys not supported)",
}

#: PS3.4 B.2.3's code ranges: every code of A7xx, A9xx and Cxxx shares its family's meaning
_FAMILIES = ((0xFF00, 0xA700), (0xFF00, 0xA900), (0xF000, 0xC000))


def status_meaning(status: int) -> str:
    """The meaning of a status code (that of its family for ``0xA7xx``, ``0xA9xx``, ``0xCxxx``), or ``""``."""
    meaning = STATUS_MEANINGS.get(status)
    if meaning is not None:
        return meaning
    family = next((code for mask, code in _FAMILIES if status & mask == code), None)
    return "" if family is None else STATUS_MEANINGS[family]


#: Characters of a peer's Error Comment kept in a message: the attribute is an LO (at most 64), but a peer may
#: send up to the command set limit (64 KiB) in every response, which would then be kept in every failure.
MAX_COMMENT = 256


def status_text(operation: str, status: int, comment: str | None = None) -> str:
    """``C-STORE status 0xA700 (Out of Resources): <error comment>``, as messages name a status (an Error
    Comment longer than :data:`MAX_COMMENT` characters cut there, its length said)."""
    meaning = status_meaning(status)
    text = f"{operation} status 0x{status:04X}" + (f" ({meaning})" if meaning else "")
    if comment and len(comment) > MAX_COMMENT:
        comment = f"{comment[:MAX_COMMENT]}...({len(comment)} characters)"
    return f"{text}: {comment}" if comment else text
