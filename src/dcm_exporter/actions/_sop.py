"""The SOP Instance Reference item (PS3.3 Table 10-11) that both follow-ups name an instance with."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom import Dataset

    from dcm_exporter.export import InstanceRef

__all__ = ["sop_reference"]


def sop_reference(ref: InstanceRef) -> Dataset:
    """A new item with Referenced SOP Class UID (0008,1150) and Referenced SOP Instance UID (0008,1155)."""
    from pydicom import Dataset

    item = Dataset()
    item.ReferencedSOPClassUID = ref.sop_class_uid
    item.ReferencedSOPInstanceUID = ref.sop_instance_uid
    return item
