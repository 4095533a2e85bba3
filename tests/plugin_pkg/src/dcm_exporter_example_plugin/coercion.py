"""An example third-party coercion processor: ``stamp:<text>`` writes ``<text> for <destination AE>`` into
Institution Name. Registered in the entry-point group ``dcm_exporter.coercions``; the class is instantiated once."""

from __future__ import annotations

from typing import Any

__all__ = ["StampProcessor"]


class StampProcessor:
    """``coerce(rule, dataset, context) -> bool``: the whole coercion plug-in contract."""

    def coerce(self, rule: Any, dataset: Any, context: Any) -> bool:
        dataset.InstitutionName = f"{rule.scheme_specific_part} for {context.receiving_ae_title}"
        return True
