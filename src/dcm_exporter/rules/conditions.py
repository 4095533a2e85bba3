"""dcm4che ``Conditions`` (``dcmProperty``) of export rules: see :mod:`dcm_exporter._conditions`.

The one implementation lives in the leaf module :mod:`dcm_exporter._conditions`, below the transports, so
that attribute coercion rules (:mod:`dcm_exporter.coercion`) evaluate their conditions with the same engine
without importing the rules package.
"""

from __future__ import annotations

from dcm_exporter._conditions import (
    NETWORK_KEYS,
    RECEIVING_AET_INDEX,
    CodeItem,
    Condition,
    ConditionError,
    DatasetView,
    Predicate,
    dataset_view,
    parse_condition,
    parse_conditions,
)

__all__ = [
    "NETWORK_KEYS",
    "RECEIVING_AET_INDEX",
    "CodeItem",
    "Condition",
    "ConditionError",
    "DatasetView",
    "Predicate",
    "dataset_view",
    "parse_condition",
    "parse_conditions",
]
