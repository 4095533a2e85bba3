"""The ``stow:`` transport: STOW-RS (DICOM PS3.18 store transaction) to a DICOMweb server.

``stow:<WebAppName>`` names a web application (``dcmWebApp``) of the configuration whose service classes
include ``STOW_RS``; its first installed connection gives host, port and TLS, and the request goes to
``<scheme>://<host>:<port><dcmWebServicePath>/studies``, as dcm4chee-arc does. ``stow:https://host/path``
is a direct DICOMweb base URL for a destination without a web application entry (``/studies`` is
appended unless the path already ends with it).

Properties (``dcmProperty`` of the web application; for a direct URL, of the exporter; a web
application's value wins over the exporter's):

======================== ======== ================================================================
``chunked``              false    send with ``Transfer-Encoding: chunked`` instead of ``Content-Length``
``concurrency``          1        STOW-RS requests in flight at once (per destination)
``transfer-syntax``      (none)   accepted transfer syntaxes (UIDs or keywords, comma separated);
                                  others are sent decompressed to Explicit VR Little Endian (or to
                                  Implicit VR Little Endian when only that one is listed)
``bearer-token``         (none)   ``Authorization: Bearer <token>``
``basic-auth``           (none)   ``<user>:<password>`` for HTTP Basic authentication
``allow-any-hostname``   false    HTTPS: accept a certificate that does not match the host name
``disable-trust-manager`` false   HTTPS: do not verify the server certificate at all
``batch-instances``      50       (ours) instances per request at most
``batch-bytes``          128 MiB  (ours) bytes of instances per request at most (one bigger
                                  instance goes alone)
``ca-file``              (none)   (ours) PEM file of CA certificates to trust for HTTPS
``connect-timeout``      10       (ours) seconds to connect
``read-timeout``         300      (ours) seconds to wait for the server between bytes of its answer
``request-timeout``      600      (ours) seconds one whole request may take, from the first byte
                                  sent to the last byte of the answer
``max-response-bytes``   16 MiB   (ours) bytes of an answer read at most
======================== ======== ================================================================

Bodies are ``multipart/related; type="application/dicom"`` streamed from the files in fixed-size
chunks: memory does not grow with the size of a study. One ``httpx.Client`` (a connection pool) per
destination is kept for the life of the transport and shared by its tasks.

Outcome per PS3.18 §10.5.3: 200 stored all; 202 and 409 are read per instance from the Referenced SOP
Sequence (0008,1199) (with Warning Reason (0008,1196) ⇒ *warning*), the Failed SOP Sequence (0008,1198)
(with Failure Reason (0008,1197) ⇒ *failed*) and the Other Failures Sequence (0008,119A); any other
answer, a timeout or a dropped connection fails the instances of that request. When nothing at all
could be stored and every request failed as a whole (server unreachable, 401, 503, dropped
connections), :meth:`StowTransport.send` raises a :class:`~dcm_exporter.errors.TransportError` whose
``retryable`` says whether trying later may help; the transport itself never retries.

An answer is read up to ``max-response-bytes``, and up to what the request can need (64 KiB and 8 KiB per
instance sent, :func:`answer_limit`: parsed, an answer costs up to about 45 times its size in memory),
uncompressed (``Accept-Encoding: identity`` is asked for and a compressed answer is not unpacked) and
parsed by a parser that refuses DTDs itself (defusedxml for XML; JSON parse errors of any kind, nesting
and huge numbers included, are caught). An answer that
cannot be read is handled alike whatever the reason: for 200 every instance is stored (PS3.18) and a
warning says the body could not be read; for other statuses the instances fail with the reason.

Credentials (``bearer-token``, ``basic-auth``, a user/password in a direct URL) never appear in
reprs, log records or exception messages. TLS certificates are verified unless switched off.
"""

from __future__ import annotations

import concurrent.futures
import logging
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import attrs

from dcm_exporter._imports import PYDICOM, require
from dcm_exporter.errors import (
    ConfigurationError,
    ConnectionFailedError,
    InstanceMissingError,
    SourceError,
    TransportError,
    TransportTimeoutError,
)
from dcm_exporter.export import ExportRequest, InstanceRef, Outcome, OutcomeBuilder
from dcm_exporter.transports._http import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_REQUEST_TIMEOUT,
    HttpSettings,
    RequestFailure,
    build_client,
    deadline,
    deadline_passed,
    proxy_url,
    read_capped,
    request_failure,
)
from dcm_exporter.transports._multipart import (
    BytesPart,
    FilePart,
    MultipartBody,
    Part,
    ResponseParseError,
    StoreResponse,
    describe_failure_reason,
    describe_warning_reason,
    parse_store_response,
)
from dcm_exporter.transports._properties import authorization, flag, positive_number
from dcm_exporter.transports.base import BaseTransport

if TYPE_CHECKING:

    import httpx

    from dcm_exporter.coercion import CoercionPlan
    from dcm_exporter.models import Configuration, ExporterDescriptor

__all__ = ["StowSettings", "StowTransport", "create_transport", "resolve_settings"]

log = logging.getLogger("dcm_exporter.transports.stow")

EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
ACCEPT = "application/dicom+json, application/dicom+xml;q=0.9, application/json;q=0.8"
STOW_RS = "STOW_RS"

DEFAULT_BATCH_INSTANCES = 50
DEFAULT_BATCH_BYTES = 128 * 1024 * 1024
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 300.0

#: Bytes of an answer always taken (an error page, the sequences' frame) and taken per instance sent (a
#: Referenced or Failed SOP Sequence item with its Retrieve URL and reasons is under 1 KiB in JSON or XML).
ANSWER_BYTES_BASE = 64 << 10
ANSWER_BYTES_PER_INSTANCE = 8 << 10


def answer_limit(instances: int, max_response_bytes: int) -> int:
    """Bytes read at most of the answer to a request of ``instances`` instances: what such a request can
    need, never more than ``max_response_bytes``. A parsed answer costs up to about 45 times its size (16 MiB
    of ``<a/>`` elements took 520 MB and 13 s), so a hostile server answering a small request is held to a
    small answer."""
    return min(max_response_bytes, ANSWER_BYTES_BASE + ANSWER_BYTES_PER_INSTANCE * instances)


_RETRYABLE_HTTP = {408, 425, 429}


# --- settings --------------------------------------------------------------------------------------


@attrs.frozen(repr=False)
class _Secret:
    """A credential value that never shows itself in a repr or a string."""

    value: str

    def __repr__(self) -> str:
        return "_Secret('***')"

    __str__ = __repr__


@attrs.frozen(kw_only=True)
class StowSettings:
    """Everything the ``stow:`` transport needs, resolved from the configuration.

    Attributes:
        destination: how the destination appears in messages: the web application name, or the URL.
        url: the STOW-RS endpoint (``…/studies``), without any user information.
        chunked: send with chunked transfer encoding.
        concurrency: requests in flight at once.
        transfer_syntaxes: accepted transfer syntax UIDs, or ``None`` to send every object as stored.
        batch_instances: instances per request at most.
        batch_bytes: bytes of instances per request at most.
        verify: verify the server certificate (HTTPS).
        check_hostname: check that the certificate matches the host name (HTTPS).
        ca_file: PEM bundle of CA certificates to trust, or ``None`` for the system's.
        connect_timeout: seconds to connect.
        read_timeout: seconds to wait between bytes of the answer.
        request_timeout: seconds one whole request may take, answer included.
        max_response_bytes: bytes of an answer read at most.
        proxy_address: the HTTP proxy requests go through (``host:port``, from the web application's
            connection's ``dcmHTTPProxy``), without its credentials; ``None`` for a direct connection.
    """

    destination: str
    url: str
    chunked: bool = False
    concurrency: int = 1
    transfer_syntaxes: frozenset[str] | None = None
    batch_instances: int = DEFAULT_BATCH_INSTANCES
    batch_bytes: int = DEFAULT_BATCH_BYTES
    verify: bool = True
    check_hostname: bool = True
    ca_file: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    _authorization: _Secret | None = attrs.field(default=None, alias="authorization", repr=False)
    _proxy: _Secret | None = attrs.field(default=None, alias="proxy", repr=False)

    @property
    def proxy_address(self) -> str | None:
        if self._proxy is None:
            return None
        parts = urlsplit(self._proxy.value)
        return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)

    @property
    def via(self) -> str:
        """`` via proxy host:port`` when requests go through a proxy, else empty (for messages)."""
        address = self.proxy_address
        return f" via proxy {address}" if address else ""

    @property
    def has_credentials(self) -> bool:
        """Whether requests carry an ``Authorization`` header."""
        return self._authorization is not None

    def headers(self) -> dict[str, str]:
        """The headers every request carries (including ``Authorization`` when configured)."""
        # identity: a compressed answer could unpack to far more than max-response-bytes
        headers = {"Accept": ACCEPT, "Accept-Encoding": "identity"}
        if self._authorization is not None:
            headers["Authorization"] = self._authorization.value
        return headers

    def target_transfer_syntax(self, stored: str) -> str | None:
        """The transfer syntax to convert an object stored in ``stored`` to, or ``None`` to send it as is."""
        if self.transfer_syntaxes is None or stored in self.transfer_syntaxes:
            return None
        if IMPLICIT_VR_LE in self.transfer_syntaxes and EXPLICIT_VR_LE not in self.transfer_syntaxes:
            return IMPLICIT_VR_LE
        return EXPLICIT_VR_LE


def _transfer_syntaxes(text: str | None, where: str) -> frozenset[str] | None:
    if text is None or not text.strip():
        return None
    from pydicom._uid_dict import UID_dictionary

    by_keyword = {entry[4]: uid for uid, entry in UID_dictionary.items() if entry[4]}
    uids = set()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item[0].isdigit():
            uids.add(item)
        elif item in by_keyword:
            uids.add(by_keyword[item])
        else:
            raise ConfigurationError(
                f"property transfer-syntax of {where}: {item!r} is not a UID or a transfer syntax keyword"
            )
    return frozenset(uids)


def _proxy_url(value: str, where: str) -> _Secret:
    """dcm4che's ``dcmHTTPProxy`` (``[user:password@]host:port``) as an ``http://`` proxy URL."""
    return _Secret(proxy_url(value, where))


def _studies_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith("/studies") else base + "/studies"


def resolve_settings(exporter: ExporterDescriptor, configuration: Configuration) -> StowSettings:
    """Resolve ``stow:<WebAppName>`` or ``stow:<URL>`` and its properties into :class:`StowSettings`.

    Raises:
        ConfigurationError: unknown or unusable web application, bad URL or property value.
    """
    target = exporter.destination.strip()
    exporter_id = exporter.exporter_id
    if not target:
        raise ConfigurationError(f"exporter {exporter_id}: stow: URI names no web application or URL")
    props: dict[str, str] = dict(exporter.properties)
    connect_default, read_default = DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT
    user_password: str | None = None
    proxy: _Secret | None = None
    if "://" in target:
        parts = urlsplit(target)
        try:
            port = parts.port
        except ValueError:
            raise ConfigurationError(f"exporter {exporter_id}: stow: URL has an invalid port") from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"exporter {exporter_id}: stow: URL must be http:// or https:// with a host name"
            )
        if parts.query or parts.fragment:
            raise ConfigurationError(f"exporter {exporter_id}: stow: URL must not have a query or fragment")
        if parts.username is not None:
            user_password = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        if port:
            netloc += f":{port}"
        url = urlunsplit((parts.scheme.lower(), netloc, _studies_url(parts.path or ""), "", ""))
        destination = url
        where = f"exporter {exporter_id}"
    else:
        remote = configuration.web_application(target)  # ConfigurationError: unknown / not installed
        if STOW_RS not in {c.upper() for c in remote.service_classes}:
            raise ConfigurationError(
                f"web application {target} does not offer the STOW_RS service class "
                f"(it has: {', '.join(remote.service_classes) or 'none'})"
            )
        props.update(remote.properties)
        url = _studies_url(remote.base_url)
        conn = remote.connection
        if conn is not None and conn.http_proxy:
            proxy = _proxy_url(conn.http_proxy, f"web application {target}")
        if conn is not None and conn.tcp_connect_timeout:
            connect_default = conn.tcp_connect_timeout / 1000
        if conn is not None and conn.response_timeout:
            read_default = conn.response_timeout / 1000
        destination = target
        where = f"web application {target}"

    header = authorization(props, where, user_password=user_password)

    ca_file = props.get("ca-file") or None
    return StowSettings(
        destination=destination,
        url=url,
        chunked=flag(props, "chunked", where),
        concurrency=positive_number(props, "concurrency", where, 1, integer=True),
        transfer_syntaxes=_transfer_syntaxes(props.get("transfer-syntax"), where),
        batch_instances=positive_number(props, "batch-instances", where, DEFAULT_BATCH_INSTANCES, integer=True),
        batch_bytes=positive_number(props, "batch-bytes", where, DEFAULT_BATCH_BYTES, integer=True),
        verify=not flag(props, "disable-trust-manager", where),
        check_hostname=not flag(props, "allow-any-hostname", where),
        ca_file=ca_file,
        connect_timeout=positive_number(props, "connect-timeout", where, connect_default),
        read_timeout=positive_number(props, "read-timeout", where, read_default),
        request_timeout=positive_number(props, "request-timeout", where, DEFAULT_REQUEST_TIMEOUT),
        max_response_bytes=positive_number(
            props, "max-response-bytes", where, DEFAULT_MAX_RESPONSE_BYTES, integer=True
        ),
        authorization=_Secret(header) if header is not None else None,
        proxy=proxy,
    )


# --- per-request results -----------------------------------------------------------------------------

_Kind = Literal["completed", "warning", "failed", "missing"]


@attrs.frozen
class _InstanceOutcome:
    ref: InstanceRef
    kind: _Kind
    reason: str | None = None
    status_code: int | None = None


@attrs.frozen(kw_only=True)
class _RequestFailure:
    """A request that failed as a whole: no per-instance answer."""

    reason: str
    retryable: bool
    category: Literal["connect", "tls", "dropped", "timeout", "http", "other"]
    status_code: int | None = None


@attrs.frozen(kw_only=True)
class _BatchResult:
    results: tuple[_InstanceOutcome, ...]
    failure: _RequestFailure | None = None
    per_instance_failures: bool = False


def classify_response(
    status: int,
    reason_phrase: str,
    response: StoreResponse | None,
    refs: Sequence[InstanceRef],
    detail: str = "",
) -> tuple[list[_InstanceOutcome], _RequestFailure | None]:
    """Map one STOW-RS answer to per-instance outcomes (pure; see the module docstring for the rules).

    ``response`` is the parsed body, or ``None`` when it could not be read (``detail`` says why).
    Returns the outcomes and, when the request failed as a whole, a :class:`_RequestFailure`.
    """
    names_instances = response is not None and not response.is_empty
    http_text = f"HTTP {status} {reason_phrase}".rstrip()
    if 200 <= status < 300 or (status >= 400 and names_instances):
        resp = response or StoreResponse()
        other_uids = {uid: code for uid, code in resp.other_failures if uid}
        general = [code for uid, code in resp.other_failures if not uid]
        results: list[_InstanceOutcome] = []
        for ref in refs:
            uid = ref.sop_instance_uid
            if uid in resp.failed:
                code = resp.failed[uid]
                text = describe_failure_reason(code) if code is not None else "no Failure Reason given"
                results.append(_InstanceOutcome(ref, "failed", f"{http_text}: {text}", code))
            elif uid in other_uids:
                code = other_uids[uid]
                text = (
                    describe_failure_reason(code) if code is not None else "listed in Other Failures Sequence"
                )
                results.append(_InstanceOutcome(ref, "failed", f"{http_text}: {text}", code))
            elif uid in resp.referenced:
                warn = resp.referenced[uid]
                if warn is not None:
                    results.append(_InstanceOutcome(ref, "warning", describe_warning_reason(warn), warn))
                else:
                    results.append(_InstanceOutcome(ref, "completed", None, status))
            elif status == 200:
                results.append(_InstanceOutcome(ref, "completed", None, status))
            else:
                why = "the response does not name this instance"
                if response is None:
                    why = (
                        f"the response could not be read ({detail})" if detail else "the response has no body"
                    )
                elif response.is_empty:
                    why = "the response names no instance"
                if general:
                    why += "; other failures: " + ", ".join(
                        describe_failure_reason(c) for c in general if c is not None
                    )
                results.append(_InstanceOutcome(ref, "failed", f"{http_text}: {why}", status))
        return results, None
    text = f"{http_text}{': ' + detail if detail else ''}"
    retryable = status >= 500 or status in _RETRYABLE_HTTP
    failure = _RequestFailure(reason=text, retryable=retryable, category="http", status_code=status)
    return [_InstanceOutcome(ref, "failed", text, status) for ref in refs], failure


def _body_snippet(content: bytes, limit: int = 200) -> str:
    text = content.decode("utf-8", "replace").strip()
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def _batches(instances: Sequence[InstanceRef], max_count: int, max_bytes: int) -> Iterator[list[InstanceRef]]:
    batch: list[InstanceRef] = []
    size = 0
    for ref in instances:
        if batch and (len(batch) >= max_count or size + max(ref.size, 0) > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(ref)
        size += max(ref.size, 0)
    if batch:
        yield batch


# --- transport ---------------------------------------------------------------------------------------


class StowTransport(BaseTransport):
    """Sends export requests to one DICOMweb server with STOW-RS.

    Made by :func:`create_transport` (the ``stow`` entry of the transport registry) and kept by the
    exporter across tasks: it owns one :class:`httpx.Client` and a pool of ``concurrency`` worker threads,
    released by :meth:`close`.

    Args:
        settings: the resolved destination and its properties.
        client: an :class:`httpx.Client` to use instead of building one (it is closed with the transport).
    """

    def __init__(self, settings: StowSettings, *, client: httpx.Client | None = None) -> None:
        require(*PYDICOM)  # here, not in the first sends of parallel workers (see dcm_exporter._imports)
        self.settings = settings
        self._client = client if client is not None else _build_client(settings)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.concurrency, thread_name_prefix=f"stow-{settings.destination[:20]}"
        )
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"StowTransport(destination={s.destination!r}, url={s.url!r}, concurrency={s.concurrency}, "
            f"chunked={s.chunked}, closed={self.closed})"
        )

    def close(self) -> None:
        """Close the HTTP client and stop the worker threads. Idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self._pool.shutdown(wait=True)
        self._client.close()

    # -- sending --

    def send(self, request: ExportRequest) -> Outcome:
        """STOW the request's instances in batches, ``concurrency`` requests at a time.

        Returns:
            The outcome (dcm4chee-arc's rule for ``dicom:`` and ``stow:``).

        Raises:
            ConnectionFailedError: nothing stored; every request failed to connect or lost its connection.
            TransportTimeoutError: nothing stored; requests timed out.
            TransportError: nothing stored; every request was refused as a whole (e.g. HTTP 401, 503);
                ``retryable`` is true when any refusal was temporary (5xx, 408, 429) or a network error.
        """
        if self.closed:
            raise TransportError(
                f"STOW-RS transport to {self.settings.destination} is closed",
                retryable=True,
                destination=self.settings.destination,
            )
        s = self.settings
        if not request.instances:
            return Outcome.warning_nothing_found(
                request.study_uid, request.series_uid, request.sop_instance_uid, destination=s.destination
            )
        builder = OutcomeBuilder.for_request(request, s.destination)
        plan = _coercion_plan(request)  # attribute coercion (dcm_exporter.coercion), None: objects as stored
        started = time.perf_counter()
        in_flight: dict[concurrent.futures.Future[_BatchResult], list[InstanceRef]] = {}
        failures: list[_RequestFailure] = []
        per_instance_answers = 0
        attempted = 0
        # instances of requests whose connection broke (not upstream: deviations.md): not confirmed, the
        # export is interrupted and retried instead of failing them
        unconfirmed = 0
        interrupted: str | None = None

        def collect(done: set[concurrent.futures.Future[_BatchResult]]) -> None:
            nonlocal per_instance_answers, unconfirmed, interrupted
            for future in done:
                batch = in_flight.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # a bug or an unexpected library error: fail the batch, loudly
                    log.exception("STOW-RS request to %s failed unexpectedly", s.destination)
                    reason = f"unexpected error: {type(exc).__name__}: {exc}"
                    result = _BatchResult(
                        results=tuple(_InstanceOutcome(r, "failed", reason) for r in batch),
                        failure=_RequestFailure(reason=reason, retryable=True, category="other"),
                    )
                if result.failure is not None:
                    failures.append(result.failure)
                else:
                    per_instance_answers += 1
                broke = result.failure if result.failure is not None and result.failure.category in (
                    "connect", "dropped", "timeout") else None
                for item in result.results:
                    if broke is not None and item.kind == "failed" and item.reason == broke.reason:
                        unconfirmed += 1
                        interrupted = broke.reason
                    elif item.kind == "completed":
                        builder.completed(item.ref, item.status_code)
                    elif item.kind == "warning":
                        builder.warning(item.ref, item.status_code, item.reason)
                    elif item.kind == "missing":
                        builder.missing(item.ref, item.reason or "missing")
                    else:
                        builder.failed(item.ref, item.reason or "failed", item.status_code)

        try:
            for batch in _batches(request.instances, s.batch_instances, s.batch_bytes):
                while len(in_flight) >= s.concurrency:
                    done, _ = concurrent.futures.wait(
                        in_flight, return_when=concurrent.futures.FIRST_COMPLETED
                    )
                    collect(done)
                if request.cancel.cancelled:
                    break
                in_flight[self._pool.submit(self._post, batch, plan)] = batch
                attempted += len(batch)
            while in_flight:
                done, _ = concurrent.futures.wait(in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
                collect(done)
        finally:
            for future in in_flight:  # only reached on an exception in this thread
                future.cancel()

        remaining = len(request.instances) - attempted
        if interrupted is not None and request.cancel.cancelled:
            interrupted = None  # canceled: what was not confirmed is remaining, as upstream
        outcome = builder.build(remaining=remaining + unconfirmed, interrupted=interrupted)
        log.info(
            "%s (%.2f s)",
            outcome.message,
            time.perf_counter() - started,
            extra={
                "destination": s.destination,
                "study_uid": request.study_uid,
                "completed": outcome.completed,
                "warning": outcome.warning,
                "failed": outcome.failed,
            },
        )
        if (
            (remaining == 0 or interrupted is not None)
            and failures
            and per_instance_answers == 0
            and outcome.completed + outcome.warning == 0
        ):
            raise self._whole_failure(failures, outcome)
        return outcome

    def _proxy_refusal(self) -> _RequestFailure | None:
        """After a dropped request through a proxy: did the proxy refuse us (HTTP 407)? A proxy that refuses
        answers 407 and closes the connection while the body is still being sent, so the POST itself only sees
        the drop; a request without a body (OPTIONS) gets the answer."""
        s = self.settings
        if s.proxy_address is None:
            return None
        timeout = min(s.connect_timeout, 10.0)
        try:
            # only the status and a header count: the body of the answer is never read, and the whole probe
            # is bounded in time (the proxy is no more trusted than the server)
            with deadline(timeout), self._client.stream("OPTIONS", s.url, timeout=timeout) as probe:
                status, server = probe.status_code, probe.headers.get("server")
        except Exception as exc:
            if request_failure(exc) is None:
                raise
            return None
        return self._proxy_auth_failure(status, server)

    def _request_failed(self, failed: RequestFailure, elapsed: float) -> _RequestFailure:
        """A POST that got no answer, worded for this destination."""
        s = self.settings
        exc = failed.cause
        if failed.kind == "connect_timeout":
            # the connect and the TLS handshake count against request-timeout too (a peer silent after accepting)
            how = (
                f"not connected (TLS handshake included) within the request timeout of {s.request_timeout:g} s"
                if elapsed >= s.request_timeout
                else f"timed out ({exc})"
            )
            return _RequestFailure(reason=f"cannot connect to {s.url}{s.via}: {how}", retryable=True,
                                   category="connect")
        if failed.kind == "connect":
            tls = _ssl_error(exc)
            if tls is not None:  # a certificate problem does not go away by itself
                return _RequestFailure(
                    reason=f"TLS handshake with {s.url} failed: {tls} (see the ca-file, allow-any-hostname "
                    "and disable-trust-manager properties)",
                    retryable=False,
                    category="tls",
                )
            return _RequestFailure(
                reason=f"cannot connect to {s.url}{s.via}: {exc}", retryable=True, category="connect"
            )
        if failed.kind == "timeout":
            reason = (
                f"no complete answer from {s.url} within the request timeout of {s.request_timeout:g} s"
                if elapsed >= s.request_timeout
                else f"no answer from {s.url} in time ({type(exc).__name__}: {exc})"
            )
            return _RequestFailure(reason=reason, retryable=True, category="timeout")
        if failed.kind == "dropped":
            return self._proxy_refusal() or _RequestFailure(
                reason=f"connection to {s.url}{s.via} dropped during the request ({type(exc).__name__}: {exc})",
                retryable=True,
                category="dropped",
            )
        return _RequestFailure(reason=f"HTTP error: {type(exc).__name__}: {exc}", retryable=True, category="other")

    def _proxy_auth_failure(self, status: int, server: str | None) -> _RequestFailure | None:
        """A 407 (or 401) answer to a request through the proxy, as a failure that names the proxy."""
        s = self.settings
        if s.proxy_address is None:
            return None
        if status == 407:
            reason = (
                f"the proxy {s.proxy_address} refused the request: HTTP 407 Proxy Authentication Required "
                "(check the user and password in the connection's dcmHTTPProxy)"
            )
        elif status == 401:  # some proxies (tinyproxy) answer wrong credentials so
            reason = (
                f"the request through the proxy {s.proxy_address} was refused: HTTP 401 Unauthorized "
                f"(from {server or 'the proxy or the server'}; check the user and password in the connection's "
                "dcmHTTPProxy, and the web application's credentials)"
            )
        else:
            return None
        return _RequestFailure(reason=reason, retryable=False, category="http", status_code=status)

    def _whole_failure(self, failures: list[_RequestFailure], outcome: Outcome) -> TransportError:
        s = self.settings
        first = failures[0]
        retryable = any(f.retryable for f in failures)
        message = (
            f"STOW-RS to {s.destination} ({s.url}) stored nothing: {first.reason}"
            + (f" (and {len(failures) - 1} more failed requests)" if len(failures) > 1 else "")
            + f"; {outcome.message}"
        )
        categories = {f.category for f in failures}
        if categories <= {"connect", "tls", "dropped"}:
            return ConnectionFailedError(message, retryable=retryable, destination=s.destination)
        if categories == {"timeout"}:
            return TransportTimeoutError(message, retryable=retryable, destination=s.destination)
        return TransportError(message, retryable=retryable, destination=s.destination)

    def _open_parts(
        self, batch: list[InstanceRef], plan: CoercionPlan | None = None
    ) -> tuple[list[Part], list[InstanceRef], list[_InstanceOutcome]]:
        parts: list[Part] = []
        sent: list[InstanceRef] = []
        results: list[_InstanceOutcome] = []
        for ref in batch:
            try:
                stream = ref.open()
            except InstanceMissingError as exc:
                results.append(_InstanceOutcome(ref, "missing", str(exc)))
                continue
            except (SourceError, OSError) as exc:
                results.append(_InstanceOutcome(ref, "failed", f"cannot read instance: {exc}"))
                continue
            target = self.settings.target_transfer_syntax(ref.transfer_syntax_uid)
            if plan is not None and plan.wants(ref.sop_class_uid):
                coerced = _coerced_part(plan, stream, ref, target)
                if isinstance(coerced, _InstanceOutcome):
                    results.append(coerced)
                    continue
                if coerced is not None:
                    parts.append(coerced)
                    sent.append(ref)
                    continue
                stream.seek(0)
            try:
                part: Part = (
                    FilePart(stream) if target is None else BytesPart(_transcode(stream, ref, target))
                )
            except Exception as exc:  # pydicom and its pixel data decoders raise many kinds: fail this one
                stream.close()
                what = "cannot read instance" if target is None else f"cannot convert to {target}"
                results.append(_InstanceOutcome(ref, "failed", f"{what}: {type(exc).__name__}: {exc}"))
                continue
            if target is not None:
                stream.close()
            parts.append(part)
            sent.append(ref)
        return parts, sent, results

    def _post(self, batch: list[InstanceRef], plan: CoercionPlan | None = None) -> _BatchResult:
        s = self.settings
        parts, sent, results = self._open_parts(batch, plan)
        if not parts:
            return _BatchResult(results=tuple(results))
        body = MultipartBody(parts)
        headers = {"Content-Type": body.content_type}
        if not s.chunked:
            headers["Content-Length"] = str(body.length)
        started = time.perf_counter()
        failure: _RequestFailure | None = None
        status, reason_phrase, server, content_type = 0, "", None, None
        content = b""
        unread: str | None = None  # why the answer's body could not be read whole
        try:
            with deadline(s.request_timeout), self._client.stream(
                "POST", s.url, content=body, headers=headers
            ) as response:
                status, reason_phrase = response.status_code, response.reason_phrase
                server, content_type = response.headers.get("server"), response.headers.get("content-type")
                limit = answer_limit(len(sent), s.max_response_bytes)
                note = "max-response-bytes" if limit == s.max_response_bytes else (
                    f"64 KiB and 8 KiB for each of the {len(sent)} instances sent"
                )
                try:
                    content, unread = read_capped(response, limit, limit_note=note)
                except Exception as exc:
                    failed = request_failure(exc)
                    if failed is None or failed.kind == "other":
                        raise
                    # the status arrived: what it says still holds, only the details are missing
                    unread = (
                        f"no complete answer within the request timeout of {s.request_timeout:g} s"
                        if deadline_passed()
                        else f"{type(exc).__name__}: {exc}"
                    )
        except OSError as exc:  # a file changed while it was streamed
            failure = _RequestFailure(
                reason=f"cannot stream the instances: {exc}", retryable=True, category="other"
            )
        except Exception as exc:
            failed = request_failure(exc)
            if failed is None:
                raise
            failure = self._request_failed(failed, time.perf_counter() - started)
        finally:
            body.close()
        if failure is not None:
            log.warning(
                "STOW-RS of %d instances to %s failed: %s",
                len(sent),
                s.destination,
                failure.reason,
                extra={"destination": s.destination, "instances": len(sent)},
            )
            results.extend(_InstanceOutcome(ref, "failed", failure.reason) for ref in sent)
            return _BatchResult(results=tuple(results), failure=failure)

        refused = self._proxy_auth_failure(status, server)
        if refused is not None:
            log.warning("STOW-RS of %d instances to %s refused: %s", len(sent), s.destination, refused.reason,
                        extra={"destination": s.destination, "status": status})
            results.extend(_InstanceOutcome(ref, "failed", refused.reason, status) for ref in sent)
            return _BatchResult(results=tuple(results), failure=refused)
        parsed: StoreResponse | None = None
        detail = ""
        if unread is not None:
            detail = unread
        else:
            try:
                parsed = parse_store_response(content, content_type)
            except ResponseParseError as exc:
                detail = f"{exc}; body: {_body_snippet(content)}"
        if parsed is not None and parsed.is_empty and status >= 400:
            detail = _body_snippet(content)
        if parsed is None and 200 <= status < 300:
            log.warning(
                "STOW-RS of %d instances to %s: HTTP %d, but the answer could not be read (%s)%s",
                len(sent),
                s.destination,
                status,
                detail,
                "; HTTP 200 says every instance was stored" if status == 200 else "",
                extra={"destination": s.destination, "status": status},
            )
        outcomes, failure = classify_response(status, reason_phrase, parsed, sent, detail)
        log.debug(
            "STOW-RS of %d instances (%d bytes) to %s: HTTP %d in %.3f s",
            len(sent),
            body.length,
            s.destination,
            status,
            time.perf_counter() - started,
            extra={"destination": s.destination, "instances": len(sent), "status": status},
        )
        if failure is not None:
            log.warning(
                "STOW-RS of %d instances to %s refused: %s",
                len(sent),
                s.destination,
                failure.reason,
                extra={"destination": s.destination, "status": status},
            )
        results.extend(outcomes)
        return _BatchResult(results=tuple(results), failure=failure)


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The :class:`ssl.SSLError` behind an httpx connect error, if that is what it was."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _coercion_plan(request: ExportRequest) -> CoercionPlan | None:
    """The attribute coercion rules of this export; upstream has no receiving AE for STOW (``None``)."""
    if request.configuration is None:
        return None
    from dcm_exporter.coercion import plan_for_export

    plan = plan_for_export(request.configuration, request.exporter, receiving_ae_title=None)
    return None if plan.is_empty else plan


def _coerced_part(
    plan: CoercionPlan, stream: Any, ref: InstanceRef, target: str | None
) -> Part | _InstanceOutcome | None:
    """The coerced object as a part (encoded once, in ``target`` or as stored), a failed outcome, or ``None``
    when no rule matched (the stream is then sent as it is)."""
    from dcm_exporter.errors import CoercionError

    name = str(ref.path) if ref.path is not None else ref.sop_instance_uid
    try:
        coerced = plan.coerce_file(stream, target_transfer_syntax=target, name=name)
    except CoercionError as exc:
        stream.close()
        return _InstanceOutcome(ref, "failed", str(exc))
    if coerced is None:
        return None
    stream.close()
    return BytesPart(coerced.part10)


def _transcode(stream: Any, ref: InstanceRef, target: str) -> bytes:
    """Decode ``stream`` (Part 10) and re-encode it in ``target`` (Explicit or Implicit VR Little Endian):
    the shared transcoder, so big-endian files and what only GDCM decodes go as they do over DIMSE."""
    from dcm_exporter._dicom.transcode import transcode_part10

    with stream:
        return transcode_part10(stream, ref.transfer_syntax_uid, target, name=ref.sop_instance_uid)


def _build_client(settings: StowSettings) -> httpx.Client:
    """The shared HTTP client (:mod:`dcm_exporter.transports._http`): requests bounded by request-timeout."""
    http = HttpSettings(
        verify=settings.verify,
        check_hostname=settings.check_hostname,
        ca_file=settings.ca_file,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        request_timeout=settings.request_timeout,
        proxy=settings._proxy.value if settings._proxy is not None else None,
    )
    return build_client(http, what="stow:", headers=settings.headers(), max_connections=settings.concurrency)


def create_transport(exporter: ExporterDescriptor, configuration: Configuration) -> StowTransport:
    """The ``stow`` entry of the transport registry: resolve the destination and build its transport.

    Raises:
        ConfigurationError: the web application or URL cannot be used, or httpx is not installed.
    """
    return StowTransport(resolve_settings(exporter, configuration))
