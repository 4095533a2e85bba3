"""The UIDs the DICOM package names: transfer syntaxes and the SOP classes it speaks."""

from __future__ import annotations

from typing import Final

__all__ = [
    "DEFLATED",
    "DEFLATED_DATASET_UIDS",
    "EXPLICIT_VR_BIG_ENDIAN",
    "EXPLICIT_VR_LITTLE_ENDIAN",
    "IMPLICIT_VR_LITTLE_ENDIAN",
    "INSTANCE_AVAILABILITY_NOTIFICATION",
    "STORAGE_COMMITMENT_PUSH_MODEL",
    "STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE",
    "VERIFICATION",
]

IMPLICIT_VR_LITTLE_ENDIAN: Final = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN: Final = "1.2.840.10008.1.2.1"
DEFLATED: Final = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BIG_ENDIAN: Final = "1.2.840.10008.1.2.2"
#: transfer syntaxes whose data set is deflated: its element structure cannot be walked without inflating
DEFLATED_DATASET_UIDS: Final = frozenset({DEFLATED, "1.2.840.10008.1.2.4.95"})

VERIFICATION: Final = "1.2.840.10008.1.1"
STORAGE_COMMITMENT_PUSH_MODEL: Final = "1.2.840.10008.1.20.1"
#: the well-known SOP Instance of the Storage Commitment Push Model (PS3.4 J.3.5)
STORAGE_COMMITMENT_PUSH_MODEL_INSTANCE: Final = "1.2.840.10008.1.20.1.1"
INSTANCE_AVAILABILITY_NOTIFICATION: Final = "1.2.840.10008.5.1.4.33"
