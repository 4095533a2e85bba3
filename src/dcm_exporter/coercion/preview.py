"""What a destination would receive: the attribute differences coercion makes to one object.

    >>> # from dcm_exporter.coercion import preview
    >>> # preview(configuration, "RESEARCH", "ct.dcm")      # a table in Jupyter, text in a terminal
"""

from __future__ import annotations

import copy
import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from dcm_exporter._imports import PYDICOM, require
from dcm_exporter.coercion.engine import plan_for_destination
from dcm_exporter.coercion.registry import ProcessorRegistry
from dcm_exporter.errors import CoercionError, ConfigurationError
from dcm_exporter.models import Configuration

__all__ = ["AttributeChange", "CoercionPreview", "preview"]

_MAX_TEXT = 64


@attrs.frozen
class AttributeChange:
    """One attribute that differs: ``action`` is ``removed``, ``added``, ``emptied`` or ``changed``."""

    path: str
    """Tag path, e.g. ``(0010,0010)`` or ``(0008,1140)[1].(0008,1155)``."""
    keyword: str
    action: str
    before: str | None
    after: str | None


@attrs.frozen
class CoercionPreview:
    """The result of :func:`preview`: the rules applied (or why none) and the attribute differences."""

    exporter_id: str
    destination: str | None
    sop_instance_uid: str
    rules: tuple[str, ...]
    changes: tuple[AttributeChange, ...]
    error: str | None = None
    """Why the object would not be sent (a rule failed), else ``None``."""

    @property
    def coerced(self) -> bool:
        """Whether any rule applies."""
        return bool(self.rules) or self.error is not None

    def to_text(self) -> str:
        """A plain-text table."""
        head = f"Exporter {self.exporter_id} -> {self.destination or '(no AE title)'}: instance {self.sop_instance_uid}"
        if self.error is not None:
            return f"{head}\nNOT SENT: {self.error}"
        if not self.rules:
            return f"{head}\nno coercion rule applies: sent unchanged"
        lines = [head, f"rules applied: {', '.join(self.rules)}"]
        rows = [(c.path, c.keyword, c.action, c.before or "", c.after or "") for c in self.changes]
        if not rows:
            return "\n".join([*lines, "no attribute changed"])
        header = ("tag", "keyword", "action", "before", "after")
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
        for row in (header, *rows):
            lines.append("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        """The preview as a table in Jupyter (the project's table style)."""
        from dcm_exporter._tables import table as _table

        e = html.escape
        head = (
            f"<p><b>Exporter {e(self.exporter_id)}</b> &rarr; {e(self.destination or '(no AE title)')}: "
            f"instance <code>{e(self.sop_instance_uid)}</code></p>"
        )
        if self.error is not None:
            return f"{head}<p style='color:#b00'><b>Not sent:</b> {e(self.error)}</p>"
        if not self.rules:
            return f"{head}<p>No coercion rule applies: sent unchanged.</p>"
        table = _table(
            ("tag", "keyword", "action", "before", "after"),
            ((c.path, c.keyword, c.action, c.before, c.after) for c in self.changes),
            status_column=None,
            caption=f"rules applied: {', '.join(self.rules)}; {len(self.changes)} attribute(s) changed",
        )
        return head + table


def _text(elem: Any) -> str:
    if elem.VR == "SQ":
        return f"{len(elem.value)} item(s)"
    value = elem.value
    if isinstance(value, bytes | bytearray):
        return f"{len(value)} bytes"
    text = str(value) if value is not None else ""
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _label(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _diff(before: Any, after: Any, prefix: str) -> Iterator[AttributeChange]:
    tags = sorted({int(t) for t in before.keys()} | {int(t) for t in after.keys()})  # noqa: SIM118
    for tag in tags:
        path = f"{prefix}{_label(tag)}"
        old = before.get(tag)
        new = after.get(tag)
        keyword = (old or new).keyword or ""
        if new is None:
            yield AttributeChange(path, keyword, "removed", _text(old), None)
            continue
        if old is None:
            yield AttributeChange(path, keyword, "added", None, _text(new))
            continue
        if old.VR == "SQ" and new.VR == "SQ" and new.value and len(old.value) == len(new.value):
            for n, (a, b) in enumerate(zip(old.value, new.value, strict=True), 1):
                yield from _diff(a, b, f"{path}[{n}].")
            continue
        if old.value == new.value and old.VR == new.VR:
            continue
        empty = new.value in (None, "", b"") or (new.VR == "SQ" and not new.value)
        yield AttributeChange(path, keyword, "emptied" if empty else "changed", _text(old), _text(new))


def preview(
    configuration: Configuration,
    exporter_id: str,
    file: str | Path | BinaryIO,
    *,
    registry: ProcessorRegistry | None = None,
) -> CoercionPreview:
    """What exporter ``exporter_id`` would send of ``file``: the rules that apply and every attribute changed.

    Raises:
        ConfigurationError: no such exporter, or a rule in scope is refused or malformed.
    """
    require(*PYDICOM)
    import pydicom

    exporter = configuration.exporters.get(exporter_id)
    if exporter is None:
        raise ConfigurationError(f"Unknown exporter: {exporter_id}")
    plan = plan_for_destination(configuration, exporter, registry=registry)
    destination = plan.receiving_ae_title
    original = pydicom.dcmread(file)
    coerced = copy.deepcopy(original)
    uid = str(original.get("SOPInstanceUID", ""))
    try:
        applied = plan.apply(coerced)
    except CoercionError as exc:
        return CoercionPreview(exporter_id, destination, uid, (), (), error=str(exc))
    if applied is None:
        return CoercionPreview(exporter_id, destination, uid, (), ())
    return CoercionPreview(exporter_id, destination, uid, applied, tuple(_diff(original, coerced, "")))
