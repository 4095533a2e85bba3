"""Export rules: on-store triggers with conditions, delays, windows and coalescing.

:class:`ExportRules` reads the ``dcmExportRule`` entries of a configuration (device and AE level) and, for each
object an archive stores, schedules the export tasks the rules ask for (:meth:`ExportRules.on_store`).
:mod:`dcm_exporter.conditions` parses and evaluates dcm4che conditions (``dcmProperty``).
"""

from __future__ import annotations

from dcm_exporter.conditions import Condition, parse_condition
from dcm_exporter.rules.engine import CompiledRule, ExportRules, Occurrence, compile_rules

__all__ = ["CompiledRule", "Condition", "ExportRules", "Occurrence", "compile_rules", "parse_condition"]
