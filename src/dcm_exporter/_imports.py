"""First imports of pydicom and pynetdicom, one thread at a time.

``import dcm_exporter`` does not import pydicom or pynetdicom; the transports, actions and rules import
them on first use, and that first use is often in several export worker threads at once. pydicom's
package imports its own modules in a cycle (``pydicom`` -> ``pydicom.dataset`` -> ``pydicom``), and
when two threads enter that cycle from different ends, CPython's import locks can hand one of them the
partially initialised package: ``ImportError: cannot import name 'Dataset' from partially initialized
module 'pydicom.dataset'``. The failed import leaves pydicom broken for the whole process, so every
later export fails the same way.

:func:`require` imports the named modules under one process-wide lock; the code that uses them calls it
where a thread first enters (a transport's constructor, :meth:`Association.open`, the actions and rules
engines). Once the modules are in ``sys.modules`` it costs a dictionary look-up per name.
"""

from __future__ import annotations

import importlib
import sys
import threading

__all__ = ["PYDICOM", "PYNETDICOM", "require"]

#: The pydicom modules this library uses (the package itself imports most of the rest).
PYDICOM: tuple[str, ...] = (
    "pydicom",
    "pydicom.dataset",
    "pydicom.datadict",
    "pydicom.errors",
    "pydicom.tag",
    "pydicom.uid",
)
#: The pynetdicom modules this library uses (after pydicom, which pynetdicom imports).
PYNETDICOM: tuple[str, ...] = (
    *PYDICOM,
    "pynetdicom",
    "pynetdicom.association",
    "pynetdicom.pdu",
    "pynetdicom.pdu_primitives",
    "pynetdicom.presentation",
)

_LOCK = threading.RLock()


def _ready(name: str) -> bool:
    module = sys.modules.get(name)
    if module is None:
        return False
    spec = getattr(module, "__spec__", None)
    return not getattr(spec, "_initializing", False)


def require(*names: str) -> None:
    """Import ``names`` (in order) unless every one is already fully imported; one thread at a time.

    Raises:
        ImportError: a module is not installed (the caller turns it into its own error).
    """
    if all(_ready(name) for name in names):
        return
    with _LOCK:
        for name in names:
            if not _ready(name):
                importlib.import_module(name)
