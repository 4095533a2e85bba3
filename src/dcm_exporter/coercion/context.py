"""What a coercion processor is told of the transfer: the leaf the engine and every processor share."""

from __future__ import annotations

import attrs

__all__ = ["CoercionContext"]


@attrs.frozen(kw_only=True)
class CoercionContext:
    """What a processor knows of the transfer (dcm4chee's processor arguments)."""

    sop_class_uid: str
    sending_ae_title: str | None = None
    """The local AE: the exporter's ``dicomAETitle``."""
    receiving_ae_title: str | None = None
    """The destination AE title (``None`` for ``stow:``)."""
    sending_hostname: str | None = None
    """The local host (not known to dcm_exporter: ``None``)."""
    receiving_hostname: str | None = None
    """The destination's host."""
