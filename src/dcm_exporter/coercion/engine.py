"""Which coercion rules apply to an outgoing object, applying them, and encoding the result once.

Selection, as dcm4chee-arc 5.35 does it for an export (``RetrieveServiceImpl.getArchiveAttributeCoercions``):
the ``dcmArchiveAttributeCoercion2`` rules of the exporter's AE (``dicomAETitle``) followed by those of the
exporter's device, stably sorted by ``dcmRulePriority`` (highest first), that have role ``SCP``, DIMSE
``C_STORE_RQ``, the instance's SOP class (or none) and whose conditions all hold. The network keys of the
conditions are: ``SendingApplicationEntityTitle`` = the exporter's AE title, ``ReceivingApplicationEntityTitle``
= the destination AE title (``None`` for ``stow:``, as upstream), ``SendingHostname`` = the destination's host
(upstream's argument order, kept) and ``ReceivingHostname`` = ``None`` (upstream: the REST requester's host).
Every matching rule is applied in that order; one that returned "applied" with ``dcmCoercionSufficient`` stops
the chain. Only when no rule matches is the first matching legacy ``dcmArchiveAttributeCoercion`` rule used.

Failures (``dcmCoercionOnFailure``): ``RETHROW`` fails the instance with the reason; ``CONTINUE`` goes on with
the next rule and ``SUFFICIENT`` stops, both sending the object. Deviation for safety: a ``deidentify:`` rule
that cannot be applied always fails the instance, so the original never leaves; nor does a de-identified image
flagged Burned In Annotation YES with its pixel data (see :func:`_refuse_burned_in`). An unknown scheme fails the
instance whatever the policy (as upstream). ``leading-arc:``, ``merge-mwl:`` and ``sup-from-dev:`` are refused
when the plan is made (:class:`~dcm_exporter.errors.ConfigurationError`).

The data set the conditions see is the stored file's (upstream: the attributes in its database).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import attrs

from dcm_exporter._imports import PYDICOM, require
from dcm_exporter.coercion._file_meta import outgoing_file_meta
from dcm_exporter.coercion.context import CoercionContext
from dcm_exporter.coercion.registry import CoercionProcessor, ProcessorRegistry, default_registry
from dcm_exporter.errors import CoercionError, ConfigurationError
from dcm_exporter.models import (
    AttributeCoercion,
    CoercionOnFailure,
    Configuration,
    Device,
    ExporterDescriptor,
    LegacyAttributeCoercion,
    TransferRole,
)

if TYPE_CHECKING:
    from pydicom import Dataset

    from dcm_exporter.coercion.deidentify import DeIdentifier
    from dcm_exporter.conditions import Predicate
    from dcm_exporter.export import InstanceRef

__all__ = [
    "CoercedInstance",
    "CoercionContext",
    "CoercionPlan",
    "encode_part10",
    "instances_as_sent",
    "plan_for_destination",
    "plan_for_export",
]

log = logging.getLogger("dcm_exporter.coercion")

C_STORE_RQ = "C_STORE_RQ"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_UNCOMPRESSED = frozenset(
    {IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN, "1.2.840.10008.1.2.1.99"}
)


#: Schemes whose processor returns ``False`` exactly when it left the data set as it was.
_NOT_EFFECTIVE_IS_UNCHANGED = frozenset({"trim-iso2022"})
#: (0028,0301) Burned In Annotation as it is encoded little endian
_BURNED_IN_TAG_BYTES = b"\x28\x00\x01\x03"


@attrs.frozen
class _Rule:
    rule: AttributeCoercion
    processor: CoercionProcessor | None  # None: unknown scheme, fails the instances it matches
    predicates: tuple[Predicate, ...]


@attrs.frozen
class _Legacy:
    rule: LegacyAttributeCoercion
    predicates: tuple[Predicate, ...]


@attrs.frozen(kw_only=True)
class CoercedInstance:
    """An object after coercion, encoded once: the Part 10 bytes and where its data set starts."""

    part10: bytes
    dataset_offset: int
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    applied: tuple[str, ...]
    """Names of the rules applied, in order."""

    @property
    def dataset(self) -> memoryview:
        """The data set bytes (what a C-STORE carries)."""
        return memoryview(self.part10)[self.dataset_offset :]


def _compile(
    rule: AttributeCoercion | LegacyAttributeCoercion, net: Sequence[str | None]
) -> tuple[Predicate, ...] | None:
    """The rule's data set predicates, or ``None`` when its network conditions rule it out for this destination."""
    # the export rules' conditions engine (one implementation); rules.conditions imports nothing above models
    from dcm_exporter.conditions import ConditionError, parse_conditions

    try:
        conditions, _ = parse_conditions(rule.conditions)
    except ConditionError as exc:
        raise ConfigurationError(f"attribute coercion {rule.name!r}: {exc}") from None
    out = []
    for cond in conditions:
        predicate = cond.compile()
        if cond.network_index is not None:
            if not predicate(None, net):  # type: ignore[arg-type]
                return None
        else:
            out.append(predicate)
    return tuple(out)


def _in_scope(rule: AttributeCoercion | LegacyAttributeCoercion) -> bool:
    return rule.role is TransferRole.SCP and rule.dimse.strip().upper() == C_STORE_RQ


class CoercionPlan:
    """The coercion rules in scope for one exporter and destination, ready to apply to its instances.

    Made by :func:`plan_for_export`. :meth:`wants` tells from the SOP class alone whether an object must be
    read at all (when not, it goes out byte for byte); :meth:`coerce_file` reads, coerces and encodes it.
    """

    def __init__(
        self,
        rules: Sequence[_Rule],
        legacy: Sequence[_Legacy],
        *,
        sending_ae_title: str | None,
        receiving_ae_title: str | None,
        destination_hostname: str | None = None,
    ) -> None:
        self._rules = tuple(rules)
        self._legacy = tuple(legacy)
        self.sending_ae_title = sending_ae_title
        self.receiving_ae_title = receiving_ae_title
        self.destination_hostname = destination_hostname
        # upstream compares SendingHostname with the destination's host and ReceivingHostname with the host of
        # a REST requester (none here) when it selects rules for a retrieve/export
        self._net = (sending_ae_title, receiving_ae_title, destination_hostname, None)
        self._bytes_candidate: bool | None = None

    def __repr__(self) -> str:
        names = [r.rule.name for r in self._rules] + [f"legacy:{r.rule.name}" for r in self._legacy]
        return f"CoercionPlan(to={self.receiving_ae_title!r}, rules={names!r})"

    @property
    def rules(self) -> tuple[AttributeCoercion, ...]:
        """The candidate rules in the order they are applied (before SOP class and data set conditions)."""
        return tuple(r.rule for r in self._rules)

    @property
    def hides_device_identity(self) -> bool:
        """Some ``deidentify:`` rule (or legacy ``dcmDeIdentification``) without ``RetainDeviceIdentityOption``
        may apply: the AE titles of the source devices are then not to be shown to the destination either."""
        keep = "RetainDeviceIdentityOption"
        texts = [r.rule.scheme_specific_part for r in self._rules if r.rule.scheme == "deidentify"]
        texts += [",".join(r.rule.deidentification) for r in self._legacy if r.rule.deidentification]
        return any(keep not in text.split(",") for text in texts)

    @property
    def is_empty(self) -> bool:
        """No rule can apply to anything sent to this destination."""
        return not self._rules and not self._legacy

    def wants(self, sop_class_uid: str) -> bool:
        """Whether some rule may apply to an object of this SOP class (its data set must then be read)."""
        rules = [r.rule for r in self._rules] + [r.rule for r in self._legacy]
        return any(not r.sop_classes or sop_class_uid in r.sop_classes for r in rules)

    def context(self, sop_class_uid: str) -> CoercionContext:
        """The context processors get for an object of ``sop_class_uid``."""
        return CoercionContext(
            sop_class_uid=sop_class_uid,
            sending_ae_title=self.sending_ae_title,
            receiving_ae_title=self.receiving_ae_title,
            sending_hostname=None,
            receiving_hostname=self.destination_hostname,
        )

    def matching(self, dataset: Dataset, sop_class_uid: str) -> tuple[AttributeCoercion, ...]:
        """The rules that apply to ``dataset``, in order (before ``dcmCoercionSufficient`` cuts the chain)."""
        return tuple(r.rule for r in self._match(dataset, sop_class_uid))

    def _match(self, dataset: Dataset, sop_class_uid: str) -> list[_Rule]:
        from dcm_exporter.conditions import dataset_view

        view = dataset_view(dataset)
        net = self._net
        return [
            r
            for r in self._rules
            if (not r.rule.sop_classes or sop_class_uid in r.rule.sop_classes)
            and all(p(view, net) for p in r.predicates)
        ]

    def _match_legacy(self, dataset: Dataset, sop_class_uid: str) -> _Legacy | None:
        from dcm_exporter.conditions import dataset_view

        view = dataset_view(dataset)
        net = self._net
        for r in self._legacy:
            if (not r.rule.sop_classes or sop_class_uid in r.rule.sop_classes) and all(
                p(view, net) for p in r.predicates
            ):
                return r
        return None

    def apply(self, dataset: Dataset, sop_class_uid: str | None = None) -> tuple[str, ...] | None:
        """Apply the matching rules to ``dataset`` in place; the names of the rules applied (``()``: matched, but
        each failed under a policy that sends anyway), or ``None`` when no rule matches.

        Raises:
            CoercionError: a rule failed and its policy (or the de-identification safety rule) fails the
                instance; the message names the rule and the reason.
        """
        result = self._apply(dataset, sop_class_uid)
        return None if result is None else result[0]

    def _apply(self, dataset: Dataset, sop_class_uid: str | None) -> tuple[tuple[str, ...], bool] | None:
        """:meth:`apply`, and whether any rule changed the data set (when none did, the stored bytes can go)."""
        sop_class = sop_class_uid or str(dataset.get("SOPClassUID", "") or "")
        matched = self._match(dataset, sop_class)
        if not matched:
            legacy = self._match_legacy(dataset, sop_class)
            if legacy is None:
                return None
            return self._apply_legacy(legacy.rule, dataset, sop_class), True
        applied: list[str] = []
        modified = False
        ctx = self.context(sop_class)
        for r in matched:
            rule = r.rule
            if r.processor is None:
                raise CoercionError(
                    f"attribute coercion {rule.name!r}: no processor for dcmURI scheme {rule.scheme!r} "
                    f"({rule.uri}); the instance is not sent",
                    rule=rule.name,
                    uri=rule.uri,
                )
            unchanged = getattr(r.processor, "leaves_unchanged", None)
            try:
                if callable(unchanged) and unchanged(rule, dataset):
                    # e.g. upstream's default rule removing an attribute the object does not have
                    effective = True
                else:
                    effective = r.processor.coerce(rule, dataset, ctx)
                    modified = modified or bool(effective) or rule.scheme not in _NOT_EFFECTIVE_IS_UNCHANGED
            except Exception as exc:  # a processor may fail in any way; the policy decides what follows
                reason = f"attribute coercion {rule.name!r} ({rule.uri}) failed: {type(exc).__name__}: {exc}"
                if rule.scheme == "deidentify":
                    raise CoercionError(
                        f"{reason}; the instance is not sent (a de-identification that failed never lets the "
                        "original out, whatever dcmCoercionOnFailure says)",
                        rule=rule.name,
                        uri=rule.uri,
                    ) from exc
                if rule.on_failure is CoercionOnFailure.RETHROW:
                    raise CoercionError(reason, rule=rule.name, uri=rule.uri) from exc
                log.info("%s; sent anyway (dcmCoercionOnFailure: %s)", reason, rule.on_failure.value)
                if rule.on_failure is CoercionOnFailure.SUFFICIENT:
                    break
                continue
            applied.append(rule.name)
            if effective and rule.sufficient:
                break
        deidentified = [r.rule for r in matched if r.rule.name in applied and r.rule.scheme == "deidentify"]
        if deidentified:
            _refuse_burned_in(dataset, deidentified[0])
        return tuple(applied), modified

    def _apply_legacy(self, rule: LegacyAttributeCoercion, dataset: Dataset, sop_class: str) -> tuple[str, ...]:
        """The legacy chain on the outgoing path: nullify tags, merge attributes, XSLT, de-identification last."""
        from pydicom.dataelem import DataElement

        from dcm_exporter.coercion.deidentify import DeIdentifier, parse_options
        from dcm_exporter.coercion.processors import merge_attributes

        try:
            for text in rule.nullify_tags:
                tag = int(text, 16)
                if tag in dataset:
                    elem = dataset[tag]
                    dataset[tag] = DataElement(tag, elem.VR, b"" if elem.VR in ("OB", "OW") else None)
            merge_attributes(dataset, rule.merge_attributes)
            if rule.xslt_uri:
                from dcm_exporter.coercion.xslt import XSLT

                XSLT.apply(rule.xslt_uri, dataset, self.context(sop_class), no_keywords=rule.no_keywords)
            if rule.deidentification:
                DeIdentifier(parse_options(rule.deidentification)).deidentify(dataset)
                _refuse_burned_in(dataset, rule)
        except Exception as exc:  # upstream fails the instance on any error of the legacy chain
            raise CoercionError(
                f"legacy attribute coercion {rule.name!r} failed: {type(exc).__name__}: {exc}; the instance is not "
                "sent",
                rule=rule.name,
            ) from exc
        return (rule.name,)

    def coerce_file(
        self, stream: BinaryIO, *, target_transfer_syntax: str | None = None, name: str = "<file>"
    ) -> CoercedInstance | None:
        """Read a Part 10 file from ``stream``, apply the matching rules and encode the result once.

        ``target_transfer_syntax`` is the syntax the peer accepted (default: the stored one). Pixel data no rule
        touched is not decompressed unless the target asks for it.

        Returns:
            ``None`` when no rule matches or none changed the object (send the stored bytes unchanged).

        Raises:
            CoercionError: the file cannot be read or encoded, or a rule failed (see :meth:`apply`).
        """
        require(*PYDICOM)
        if self._may_take_bytes():
            try:
                data = stream.read()
            except OSError as exc:
                raise CoercionError(f"{name}: cannot read the stored file for attribute coercion: {exc}") from exc
            done = self._coerce_bytes(data, target_transfer_syntax)
            if done is not None:
                return done
            stream = io.BytesIO(data)
        return self._coerce_dataset(stream, target_transfer_syntax=target_transfer_syntax, name=name)

    def _may_take_bytes(self) -> bool:
        """Some rule is a built-in ``deidentify:`` without data set conditions (see :meth:`_bytes_rule`)."""
        found = self._bytes_candidate
        if found is None:
            from dcm_exporter.coercion.processors import DeidentifyProcessor

            found = self._bytes_candidate = any(
                type(r.processor) is DeidentifyProcessor and not r.predicates for r in self._rules
            )
        return found

    def _bytes_rule(self, data: bytes) -> tuple[_Rule, DeIdentifier] | None:
        """The ``deidentify:`` rule this object gets when it is the only change (no data set condition, no other
        rule after it): the Part 10 bytes can then be de-identified without pydicom's round trip."""
        from dcm_exporter._dicom.part10 import read_sop_class
        from dcm_exporter.coercion.processors import DeidentifyProcessor

        sop_class = None
        if any(r.rule.sop_classes for r in self._rules):
            sop_class = read_sop_class(data)
            if sop_class is None:
                return None  # none, or a file the header scanner declines: pydicom's reading decides
        candidates = [r for r in self._rules if not r.rule.sop_classes or sop_class in r.rule.sop_classes]
        if not candidates or any(r.predicates for r in candidates):
            return None
        if _may_say_burned_in(data):
            return None  # the pydicom path looks at Burned In Annotation (a chance match in pixel data costs time)
        first = candidates[0]
        if type(first.processor) is not DeidentifyProcessor or not (first.rule.sufficient or len(candidates) == 1):
            return None
        try:
            return first, first.processor.deidentifier(first.rule)
        except ValueError:
            return None  # an unknown option: the generic path reports it

    def _coerce_bytes(self, data: bytes, target_transfer_syntax: str | None) -> CoercedInstance | None:
        """:meth:`coerce_file` by :mod:`~dcm_exporter.coercion._part10_deident` (the same bytes, without decoding
        and encoding every element), or ``None`` when that path does not take this object."""
        from dcm_exporter.coercion._part10_deident import Unsupported, deidentify_part10

        chosen = self._bytes_rule(data)
        if chosen is None:
            return None
        rule, deidentifier = chosen
        try:
            done = deidentify_part10(deidentifier, data, target_transfer_syntax)
        except Unsupported:
            return None  # a shape only pydicom reproduces (or reports) exactly
        except Exception as exc:  # whatever else goes wrong there, the pydicom path gives the same object
            log.debug("de-identification of the Part 10 bytes gave up: %s: %s", type(exc).__name__, exc)
            return None
        return CoercedInstance(
            part10=done.part10,
            dataset_offset=done.dataset_offset,
            sop_class_uid=done.sop_class_uid,
            sop_instance_uid=done.sop_instance_uid,
            transfer_syntax_uid=target_transfer_syntax or done.transfer_syntax_uid,
            applied=(rule.rule.name,),
        )

    def _coerce_dataset(
        self, stream: BinaryIO, *, target_transfer_syntax: str | None = None, name: str = "<file>"
    ) -> CoercedInstance | None:
        """:meth:`coerce_file` with pydicom: read the data set, apply the rules, encode it."""
        import pydicom
        from pydicom.errors import InvalidDicomError

        try:
            ds = pydicom.dcmread(stream, force=False)
        except (InvalidDicomError, OSError, ValueError, EOFError, RecursionError) as exc:
            # RecursionError: sequences nested hundreds deep, which pydicom reads by recursion
            raise CoercionError(f"{name}: cannot read the stored file for attribute coercion: {exc}") from exc
        sop_class = str(ds.get("SOPClassUID", "") or ds.file_meta.get("MediaStorageSOPClassUID", ""))
        result = self._apply(ds, sop_class)
        if result is None or not result[1]:
            return None  # no rule matched, or none changed anything: the stored bytes go out
        return encode_part10(ds, target_transfer_syntax, name=name, applied=result[0])


#: ``dcmCoercionParam`` of a ``deidentify:`` rule that sends images flagged with burned-in annotations anyway
BURNED_IN_PARAM = ("burned-in-annotation", "send")
_BURNED_IN_ANNOTATION = 0x00280301
_PIXEL_DATA = 0x7FE00010


def _may_say_burned_in(data: bytes) -> bool:
    """Whether ``data`` may hold a Burned In Annotation of ``YES``: every place its tag appears, read as an
    explicit VR element (short or long length) and as an implicit one (most images say ``NO``: those stay on
    the bytes path)."""
    at = data.find(_BURNED_IN_TAG_BYTES)
    while at >= 0:
        places = [(at + 8, int.from_bytes(data[at + 6 : at + 8], "little"))]  # explicit VR, 2-byte length
        places.append((at + 12, int.from_bytes(data[at + 8 : at + 12], "little")))  # explicit VR, 4-byte length
        places.append((at + 8, int.from_bytes(data[at + 4 : at + 8], "little")))  # implicit VR
        for start, length in places:
            if length <= 16 and data[start : start + length].strip(b" \x00").upper() == b"YES":
                return True
        at = data.find(_BURNED_IN_TAG_BYTES, at + 1)
    return False


def _refuse_burned_in(dataset: Dataset, rule: AttributeCoercion | LegacyAttributeCoercion) -> None:
    """Refuse a de-identified object whose Burned In Annotation is YES while its pixel data is still there.

    The Basic Profile leaves pixel data alone, so the name or ID written into such an image would arrive with
    the de-identified copy (dcm4chee sends it). A ``nullify-pixel-data:`` rule for the destination, or
    ``dcmCoercionParam: burned-in-annotation=send`` on the rule, lets it go.

    Raises:
        CoercionError: the object is flagged and its pixel data was not nullified.
    """
    params = getattr(rule, "params", None) or {}
    if params.get(BURNED_IN_PARAM[0], "").strip().lower() == BURNED_IN_PARAM[1]:
        return
    flag = dataset.get(_BURNED_IN_ANNOTATION)
    pixels = dataset.get(_PIXEL_DATA)
    if flag is None or pixels is None or not pixels.value:
        return
    value = flag.value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if str(value).strip(" \x00").upper() != "YES":
        return
    raise CoercionError(
        f"attribute coercion {rule.name!r}: Burned In Annotation (0028,0301) is YES and the pixel data is still "
        "there: the image may show the patient's name or ID, which de-identification does not remove; the "
        "instance is not sent (add a nullify-pixel-data: rule for this destination, or dcmCoercionParam "
        f"{BURNED_IN_PARAM[0]}={BURNED_IN_PARAM[1]} to send such images anyway)",
        rule=rule.name,
    )


def encode_part10(
    ds: Dataset, target_transfer_syntax: str | None, *, name: str = "<file>", applied: tuple[str, ...] = ()
) -> CoercedInstance:
    """Encode a (coerced) data set as Part 10 in ``target_transfer_syntax`` (default: its own), once.

    The File Meta Information follows the data set (Media Storage SOP Instance UID). Compressed pixel data is
    decompressed only when the target is an uncompressed syntax and the pixel data is still there.

    Raises:
        CoercionError: the conversion is not possible (e.g. to a compressed syntax, or no decoder).
    """
    from pydicom.uid import UID

    meta = ds.file_meta
    source = str(meta.get("TransferSyntaxUID", "") or EXPLICIT_VR_LITTLE_ENDIAN)
    target = target_transfer_syntax or source
    try:
        if target != source:
            if target not in _UNCOMPRESSED:
                raise CoercionError(f"{name}: cannot encode in {target} after attribute coercion: only uncompressed")
            pixels = ds.get(0x7FE00010)
            if source not in _UNCOMPRESSED and pixels is not None and pixels.value:
                ds.decompress(generate_instance_uid=False)
        meta.TransferSyntaxUID = UID(target)
        if "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        if "SOPClassUID" in ds:
            meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta = outgoing_file_meta(meta)
        out = io.BytesIO()
        ds.save_as(
            out,
            enforce_file_format=True,
            implicit_vr=target == IMPLICIT_VR_LITTLE_ENDIAN,
            little_endian=target != EXPLICIT_VR_BIG_ENDIAN,
        )
    except CoercionError:
        raise
    except Exception as exc:  # pydicom and pixel data plugins raise many kinds; this instance fails alone
        raise CoercionError(
            f"{name}: cannot encode the coerced object in {target}: {type(exc).__name__}: {exc}"
        ) from exc
    data = out.getvalue()
    from dcm_exporter._dicom.part10 import Part10Meta, parse_part10_meta

    meta_read = parse_part10_meta(data, name=name)
    return CoercedInstance(
        part10=data,
        # an int: the meta group runs to the end of what pydicom wrote, an empty data set
        dataset_offset=meta_read.dataset_offset if isinstance(meta_read, Part10Meta) else len(data),
        sop_class_uid=str(ds.get("SOPClassUID", "")),
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        transfer_syntax_uid=target,
        applied=applied,
    )


def _device_of(configuration: Configuration, exporter: ExporterDescriptor) -> Device | None:
    for device in configuration.devices:
        if device.exporter(exporter.exporter_id) is not None:
            return device
    if exporter.ae_title:
        for device in configuration.devices:
            if device.application_entity(exporter.ae_title) is not None:
                return device
    return None


def plan_for_export(
    configuration: Configuration,
    exporter: ExporterDescriptor,
    *,
    receiving_ae_title: str | None,
    destination_hostname: str | None = None,
    local_ae_title: str | None = None,
    registry: ProcessorRegistry | None = None,
) -> CoercionPlan:
    """The coercion rules that may apply to what ``exporter`` sends to ``receiving_ae_title``.

    ``local_ae_title`` defaults to the exporter's ``dicomAETitle``: its AE-level rules and the rules of the
    exporter's device are in scope. Network conditions are decided here, data set conditions per object.

    Raises:
        ConfigurationError: a rule in scope has a condition that cannot be parsed, or uses a processor that is
            refused (``leading-arc:``, ``merge-mwl:``, ``sup-from-dev:``) or cannot be loaded.
    """
    registry = registry or default_registry
    local = local_ae_title or exporter.ae_title
    device = _device_of(configuration, exporter)
    if device is None:
        return CoercionPlan((), (), sending_ae_title=local, receiving_ae_title=receiving_ae_title)
    ae = device.application_entity(local) if local else None
    new: list[AttributeCoercion] = [*(ae.attribute_coercions if ae else ()), *device.attribute_coercions]
    old: list[LegacyAttributeCoercion] = [
        *(ae.legacy_attribute_coercions if ae else ()),
        *device.legacy_attribute_coercions,
    ]
    new.sort(key=lambda r: -r.priority)  # stable: AE level before device level on equal priority
    old.sort(key=lambda r: -r.priority)
    net = (local, receiving_ae_title, destination_hostname, None)
    rules: list[_Rule] = []
    for rule in new:
        if not _in_scope(rule):
            continue
        predicates = _compile(rule, net)
        if predicates is None:
            continue
        processor = registry.get(rule.scheme)
        check = getattr(processor, "check", None)
        if callable(check):
            check(rule)
        rules.append(_Rule(rule, processor, predicates))
    legacy: list[_Legacy] = []
    for lrule in old:
        if not _in_scope(lrule):
            continue
        predicates = _compile(lrule, net)
        if predicates is None:
            continue
        if lrule.leading_cfind_scp:
            raise ConfigurationError(
                f"legacy attribute coercion {lrule.name!r}: dcmLeadingCFindSCP needs a C-FIND to a leading archive, "
                "which dcm_exporter does not provide"
            )
        legacy.append(_Legacy(lrule, predicates))
    return CoercionPlan(
        rules,
        legacy,
        sending_ae_title=local,
        receiving_ae_title=receiving_ae_title,
        destination_hostname=destination_hostname,
    )


def plan_for_destination(
    configuration: Configuration, exporter: ExporterDescriptor, *, registry: ProcessorRegistry | None = None
) -> CoercionPlan:
    """:func:`plan_for_export` for ``exporter``'s configured destination: the AE title and host of a ``dicom:``
    exporter's remote AE (host ``None`` when the AE is not configured), neither for other schemes.

    Raises:
        ConfigurationError: as :func:`plan_for_export`.
    """
    receiving = exporter.destination if exporter.scheme == "dicom" else None
    host = None
    if receiving:
        try:
            host = configuration.remote_ae(receiving).hostname
        except ConfigurationError:
            host = None
    return plan_for_export(
        configuration, exporter, receiving_ae_title=receiving, destination_hostname=host, registry=registry
    )


def instances_as_sent(
    configuration: Configuration, exporter: ExporterDescriptor, instances: Sequence[InstanceRef]
) -> list[InstanceRef]:
    """The instances with the SOP Instance UIDs ``exporter``'s destination received (after coercion).

    For a storage commitment after the export: a ``deidentify:`` rule remaps UIDs, and the destination can only
    commit what it has. Instances no rule changes (or whose coercion failed: they were not sent) stay as they are.

    Raises:
        ConfigurationError: as :func:`plan_for_export`.
    """
    import attrs as _attrs

    plan = plan_for_destination(configuration, exporter)
    if plan.is_empty:
        return list(instances)
    require(*PYDICOM)
    import pydicom

    out: list[InstanceRef] = []
    for ref in instances:
        if not plan.wants(ref.sop_class_uid):
            out.append(ref)
            continue
        try:
            with ref.open() as fp:
                ds = pydicom.dcmread(fp, stop_before_pixels=True)
            applied = plan.apply(ds, ref.sop_class_uid)
        except Exception as exc:  # unreadable or failing: it was not sent either; ask about it as it is
            log.debug("instance %s kept as stored for the commitment request: %s", ref.sop_instance_uid, exc)
            applied = None
        uid = str(ds.get("SOPInstanceUID", "")) if applied is not None else ""
        out.append(_attrs.evolve(ref, sop_instance_uid=uid) if uid and uid != ref.sop_instance_uid else ref)
    return out


def _dataset_of(source: Any) -> Dataset:
    """A pydicom data set from a path, a file object or a data set."""
    require(*PYDICOM)
    import pydicom

    if isinstance(source, pydicom.Dataset):
        return source
    return pydicom.dcmread(source)
