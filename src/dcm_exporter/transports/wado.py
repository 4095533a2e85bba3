"""The ``wado:`` transport: fetch WADO or QIDO URLs of the exported objects, as dcm4chee-arc's WadoExporter.

``wado:<WebAppName>`` names a web application (``dcmWebApp``) of the configuration. Upstream uses such
exporters to warm caches (a viewer's, a proxy's) or to copy rendered objects to a storage. The request URL
is the web application's service URL followed by the exporter property ``WadoService`` (the web application
must offer ``WADO_RS`` or ``WADO_URI``) or else ``QidoService`` (it must offer ``QIDO_RS``), in which
``[0]``, ``[1]``, ``[2]`` and ``[3]`` stand for the Study, Series and SOP Instance UID and the frame number.
As upstream, the URL is a Java ``MessageFormat`` pattern once the brackets are made braces (so a ``'``
quotes), and the *number* of placeholders chooses the level: none — one request; one — one per study; two —
one per series; three — one per instance; four — one per frame (the frame count read from each instance's
Number of Frames, 1 when absent)::

    dcmURI: wado:DCM4CHEE-WADO
    dcmProperty: WadoService=/studies/[0]/series/[1]/instances/[2]/rendered
    dcmProperty: Accept=image/jpeg

Exporter properties:

=================== ============================================================================
``WadoService``     path (and query) appended to the service URL, with ``[0]``..``[3]``
``QidoService``     the same for a QIDO-RS request (used when ``WadoService`` is absent)
``Accept``          ``Accept`` request header
``Accept-Encoding`` ``Accept-Encoding`` request header
``Cache-Control``   ``Cache-Control`` request header
``IgnoreNotFound``  ``true``: a 404 or 410 answer is neither retrieved nor failed
``StorageID``       store each response body on that ``dcmStorage`` (path format as for instances,
                    with Study/Series/SOP Instance UID and Referenced Frame Number (0008,1160))
=================== ============================================================================

The web application's own properties give ``bearer-token`` or ``basic-auth``, ``allow-any-hostname`` and
``disable-trust-manager``, ``ca-file``, ``connect-timeout``, ``read-timeout`` and ``request-timeout`` (as
for ``stow:``; the last bounds each whole request, body included, 600 s by default), and
``max-stored-bytes``: the most one answer may hold when it is stored on ``StorageID`` (4 GiB by default; a
larger one fails its request and nothing of it is kept); its connection gives TLS and the ``dcmHTTPProxy``.
Requests say ``Accept-Encoding: identity`` unless the exporter's ``Accept-Encoding`` property says otherwise
(as upstream's client, which asks for no compression).

Outcome, as upstream: no failed request ⇒ COMPLETED, message ``Query retrieved N objects by Exporter
<id>``; some failed and some retrieved ⇒ WARNING (``…, failed: F - <last error>``); none retrieved and
some failed ⇒ a :class:`~dcm_exporter.errors.TransportError` (the task fails and the queue's retry policy
applies). A request fails on a network error, a timeout or an answer other than 2xx (404 and 410 too,
unless ``IgnoreNotFound``).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from dcm_exporter._imports import PYDICOM, require
from dcm_exporter._java_text import Slot, parse_message_format
from dcm_exporter._secrets import mask_url
from dcm_exporter.errors import ConfigurationError, InstanceMissingError, SourceError, TransportError
from dcm_exporter.export import ALL, ExportRequest, FailedInstance, InstanceRef, Outcome, OutcomeStatus
from dcm_exporter.transports._http import (
    DEFAULT_MAX_STORED_BYTES,
    DEFAULT_REQUEST_TIMEOUT,
    Fetched,
    HttpSettings,
    build_client,
    fetch,
    proxy_url,
)
from dcm_exporter.transports._properties import authorization, flag, positive_number
from dcm_exporter.transports.base import BaseTransport

if TYPE_CHECKING:
    import httpx

    from dcm_exporter.models import Configuration, ExporterDescriptor
    from dcm_exporter.transports.storage import StorageTransport

__all__ = ["WadoSettings", "WadoTransport", "create_transport", "resolve_settings"]

log = logging.getLogger("dcm_exporter.transports.wado")

#: the levels by number of placeholders, as upstream's WadoExporter.Entity
LEVELS = ("CONST", "STUDY", "SERIES", "INSTANCE", "FRAME")
_HEADER_PROPERTIES = ("Accept", "Accept-Encoding", "Cache-Control")
_WADO_CLASSES = {"WADO_RS", "WADO_URI"}


@attrs.frozen(kw_only=True)
class WadoSettings:
    """Everything the ``wado:`` transport needs, resolved from the configuration.

    Attributes:
        exporter_id: the exporter (named in the outcome message).
        destination: the web application name.
        url_pattern: the service URL and ``WadoService``/``QidoService`` with the placeholders as braces.
        level: ``CONST``, ``STUDY``, ``SERIES``, ``INSTANCE`` or ``FRAME``.
        headers: request headers (``Accept``, ``Accept-Encoding``, ``Cache-Control``).
        ignore_not_found: 404 and 410 answers count neither as retrieved nor as failed.
        storage_id: the ``dcmStorage`` response bodies are stored on, or ``None``.
        max_stored_bytes: the most one answer stored on ``storage_id`` may hold (``max-stored-bytes``).
        http: TLS, timeouts, proxy.
    """

    exporter_id: str
    destination: str
    url_pattern: str
    level: str
    headers: Mapping[str, str] = attrs.field(factory=dict)
    ignore_not_found: bool = False
    storage_id: str | None = None
    max_stored_bytes: int = DEFAULT_MAX_STORED_BYTES
    http: HttpSettings = attrs.field(factory=HttpSettings)
    _authorization: str | None = attrs.field(default=None, alias="authorization", repr=False)
    _segments: tuple[str | Slot, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        segments = parse_message_format(self.url_pattern, self.url_pattern)
        object.__setattr__(self, "_segments", tuple(segments))

    def url(self, params: Sequence[str]) -> str:
        """The request URL for ``params`` (UIDs and frame number)."""
        out: list[str] = []
        for seg in self._segments:
            if isinstance(seg, str):
                out.append(seg)
            elif seg.index < len(params):
                out.append(params[seg.index])
            else:
                out.append(f"{{{seg.index}}}")  # MessageFormat prints a missing argument as {n}
        return "".join(out)

    def request_headers(self) -> dict[str, str]:
        """The headers of every request, ``Authorization`` included when configured."""
        # httpx would ask for gzip and unpack it: a small answer could then stand for a large one
        headers = {"Accept-Encoding": "identity", **self.headers}
        if self._authorization is not None:
            headers["Authorization"] = self._authorization
        return headers


def resolve_settings(exporter: ExporterDescriptor, configuration: Configuration) -> WadoSettings:
    """Resolve ``wado:<WebAppName>`` and the exporter's properties into :class:`WadoSettings`.

    Raises:
        ConfigurationError: unknown web application, one without the service class the property needs, no
            ``WadoService``/``QidoService``, more than four placeholders, a bad property value, or a
            ``StorageID`` that names no storage.
    """
    exporter_id = exporter.exporter_id
    name = exporter.destination.strip()
    if not name:
        raise ConfigurationError(f"exporter {exporter_id}: wado: URI names no web application")
    where = f"exporter {exporter_id}"
    remote = configuration.web_application(name)  # ConfigurationError: unknown / not installed
    classes = {c.upper() for c in remote.service_classes}
    props = dict(exporter.properties)
    if "WadoService" in props:
        service, needed = props["WadoService"], _WADO_CLASSES
    elif "QidoService" in props:
        service, needed = props["QidoService"], {"QIDO_RS"}
    else:
        raise ConfigurationError(
            f"{where}: a wado: exporter needs the property WadoService or QidoService (the path appended to "
            f"the service URL of web application {name}, e.g. WadoService=/studies/[0]/series/[1]/metadata)"
        )
    if not classes & needed:
        raise ConfigurationError(
            f"{where}: web application {name} offers {', '.join(sorted(classes)) or 'no service class'}, "
            f"none of {', '.join(sorted(needed))}"
        )
    url_pattern = (remote.base_url + service).replace("[", "{").replace("]", "}")
    try:
        segments = parse_message_format(url_pattern, url_pattern)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {service!r}: {exc}") from None
    slots = [s for s in segments if isinstance(s, Slot)]
    if len(slots) >= len(LEVELS) or any(s.index > 3 or s.type for s in slots):
        raise ConfigurationError(
            f"{where}: {service!r} may hold up to four placeholders [0] to [3] (Study, Series and SOP Instance "
            "UID, frame number), without formats"
        )
    storage_id = props.get("StorageID") or None
    if storage_id is not None and storage_id not in configuration.storages:
        known = ", ".join(sorted(configuration.storages)) or "none"
        raise ConfigurationError(f"{where}: StorageID {storage_id} is not configured (storages: {known})")

    web = dict(remote.properties)
    app = f"web application {name}"
    header = authorization(web, app)
    conn = remote.connection
    connect_default = conn.tcp_connect_timeout / 1000 if conn is not None and conn.tcp_connect_timeout else 10.0
    read_default = conn.response_timeout / 1000 if conn is not None and conn.response_timeout else 300.0
    proxy = proxy_url(conn.http_proxy, app) if conn is not None and conn.http_proxy else None
    http = HttpSettings(
        verify=not flag(web, "disable-trust-manager", app),
        check_hostname=not flag(web, "allow-any-hostname", app),
        ca_file=web.get("ca-file") or None,
        connect_timeout=positive_number(web, "connect-timeout", app, connect_default),
        read_timeout=positive_number(web, "read-timeout", app, read_default),
        request_timeout=positive_number(web, "request-timeout", app, DEFAULT_REQUEST_TIMEOUT),
        proxy=proxy,
    )
    return WadoSettings(
        exporter_id=exporter_id,
        destination=name,
        url_pattern=url_pattern,
        level=LEVELS[len(slots)],
        headers={h: props[h] for h in _HEADER_PROPERTIES if h in props},
        ignore_not_found=flag(props, "IgnoreNotFound", where),
        storage_id=storage_id,
        max_stored_bytes=positive_number(web, "max-stored-bytes", app, DEFAULT_MAX_STORED_BYTES, integer=True),
        http=http,
        authorization=header,
    )


def _number_of_frames(ref: InstanceRef) -> int:
    require(*PYDICOM)
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        with ref.open() as fp:
            ds = dcmread(fp, stop_before_pixels=True, specific_tags=[0x00280008])
        value = ds.get("NumberOfFrames")
        return max(int(value), 1) if value not in (None, "") else 1
    except (InvalidDicomError, EOFError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise SourceError(f"cannot read Number of Frames of instance {ref.sop_instance_uid}: {exc}") from exc


class WadoTransport(BaseTransport):
    """Fetches WADO/QIDO URLs for the objects of each export, one ``httpx.Client`` for its lifetime.

    Args:
        settings: the resolved settings.
        storage: the storage transport response bodies go to (``StorageID``), or ``None``.
        client: an :class:`httpx.Client` to use instead of building one (it is closed with the transport).
    """

    def __init__(
        self,
        settings: WadoSettings,
        *,
        storage: StorageTransport | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.settings = settings
        self.destination = f"wado:{settings.destination}"
        self.storage = storage
        # study- and constant-level requests need no lookup of instances; series-level ones do when the
        # task covers a whole study, so that every series is fetched
        self.needs_instances = settings.level in ("SERIES", "INSTANCE", "FRAME")
        self._client = client if client is not None else build_client(settings.http, what="wado:")

    def __repr__(self) -> str:
        return f"WadoTransport({self.destination!r}, level={self.settings.level})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        if not self.closed:
            self._client.close()
        self.closed = True

    def _params(self, request: ExportRequest) -> Iterator[tuple[tuple[str, ...], InstanceRef | None]]:
        level = self.settings.level
        study = request.study_uid
        if level == "CONST":
            yield (), None
        elif level == "STUDY":
            yield (study,), None
        elif level == "SERIES":
            if request.series_uid != ALL:
                yield (study, request.series_uid), None
            else:
                for series in dict.fromkeys(r.series_uid for r in request.instances):
                    yield (study, series), None
        else:
            for ref in request.instances:
                if level == "INSTANCE":
                    yield (study, ref.series_uid, ref.sop_instance_uid), ref
                else:
                    for frame in range(1, _number_of_frames(ref) + 1):
                        yield (study, ref.series_uid, ref.sop_instance_uid, str(frame)), ref

    def _store(self, params: Sequence[str], body: Any) -> None:
        assert self.storage is not None
        require(*PYDICOM)
        from pydicom import Dataset

        ds = Dataset()
        for keyword, value in zip(
            ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "ReferencedFrameNumber"), params,
            strict=False,
        ):
            setattr(ds, keyword, value)
        self.storage.store(ds, body)

    def _get(self, url: str, params: Sequence[str]) -> Fetched:
        headers = self.settings.request_headers()
        if self.storage is None:
            return fetch(self._client, url, headers, None, request_timeout=self.settings.http.request_timeout)
        # the answer is spooled (to an unnamed temporary file past 8 MiB) and stored only once it is whole:
        # a failed or oversized one leaves nothing behind, on the storage or in the temporary folder
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as body:
            result = fetch(self._client, url, headers, body, request_timeout=self.settings.http.request_timeout,
                           max_bytes=self.settings.max_stored_bytes,
                           limit_name=f"max-stored-bytes of web application {self.settings.destination}")
            if result.ok:
                try:
                    self._store(params, body)
                except (OSError, TransportError) as exc:
                    storage_id = self.settings.storage_id
                    return Fetched(status=None, reason=f"cannot store the answer on {storage_id}: {exc}")
            return result

    def send(self, request: ExportRequest) -> Outcome:
        """GET the URL of every study, series, instance or frame of ``request``; see the module docstring."""
        if self.closed:
            raise TransportError(f"{self!r} is closed", retryable=False, destination=self.destination)
        s = self.settings
        retrieved = failed = ignored = 0
        retryable = False
        last_error = ""
        failures: list[FailedInstance] = []
        try:
            params_list = list(self._params(request))
        except (InstanceMissingError, SourceError) as exc:
            raise TransportError(str(exc), retryable=False, destination=self.destination) from exc
        for i, (params, _ref) in enumerate(params_list):
            if request.cancel.cancelled:
                return Outcome(
                    status=OutcomeStatus.CANCELED,
                    message=f"Query retrieved {retrieved} objects by Exporter {s.exporter_id}, canceled with "
                            f"{len(params_list) - i} requests remaining",
                    completed=retrieved, failed=failed, remaining=len(params_list) - i,
                    failures=failures, destination=self.destination, entity=request.entity,
                )
            url = s.url(params)
            result = self._get(url, params)
            shown = mask_url(url)
            if result.ok:
                retrieved += 1
                log.debug("GET %s: %s, %d bytes", shown, result.status, result.size)
            elif result.status in (404, 410) and s.ignore_not_found:
                ignored += 1
                log.info("GET %s: HTTP %s ignored (IgnoreNotFound)", shown, result.status)
            else:
                failed += 1
                retryable = retryable or result.retryable or result.status in (404, 410)
                status = f"HTTP {result.status} {result.reason}".rstrip() if result.status else result.reason
                last_error = f"GET {shown}: {status}" + (f": {result.snippet}" if result.snippet else "")
                failures.append(FailedInstance(sop_instance_uid=params[-1] if params else s.destination,
                                               reason=last_error, status_code=result.status))
                log.info("%s", last_error)
        message = f"Query retrieved {retrieved} objects by Exporter {s.exporter_id}"
        if failed == 0:
            return Outcome(status=OutcomeStatus.COMPLETED, message=message, completed=retrieved,
                           skipped=ignored, destination=self.destination, entity=request.entity)
        if retrieved > 0:
            return Outcome(status=OutcomeStatus.WARNING, message=f"{message}, failed: {failed} - {last_error}",
                           completed=retrieved, failed=failed, skipped=ignored, failures=failures,
                           destination=self.destination, entity=request.entity)
        raise TransportError(f"{message}, failed: {failed} - {last_error}", retryable=retryable,
                             destination=self.destination)


def create_transport(
    exporter: ExporterDescriptor,
    configuration: Configuration,
    *,
    variables: Mapping[str, str] | None = None,
) -> WadoTransport:
    """The ``wado`` entry of the transport registry: resolve the web application and build the transport.

    Args:
        variables: fills ``${name}`` placeholders of the ``StorageID`` storage's ``dcmURI``.

    Raises:
        ConfigurationError: see :func:`resolve_settings`; httpx is not installed.
    """
    settings = resolve_settings(exporter, configuration)
    storage = None
    if settings.storage_id is not None:
        from dcm_exporter.transports.storage import StorageTransport

        storage = StorageTransport(exporter, configuration.storages[settings.storage_id], variables=variables)
    return WadoTransport(settings, storage=storage)
