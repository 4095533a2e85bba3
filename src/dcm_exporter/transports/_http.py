"""The HTTP client of the ``stow:`` and ``wado:`` transports (internal): their one door to httpx.

httpx is imported lazily here, so importing a transport does not load it. Every httpx error becomes a
:class:`Fetched` that says what happened, or for a request of the caller's own (the POST of ``stow:``) a
:class:`RequestFailure` that says which kind of failure it was: no other module catches httpx's exceptions.
Bodies are streamed in fixed-size chunks into a sink or discarded, so memory does not grow with a response.

Limits shared by both transports (a server is not trusted to end its answer):

- ``read-timeout`` bounds each wait for the server's next bytes (httpx's own read timeout);
- ``request-timeout`` (:data:`DEFAULT_REQUEST_TIMEOUT`) bounds the whole request, from the connect to the
  last byte of the answer: every connect, TLS handshake, socket read and socket write of the request waits
  at most for the time left, so a server trickling its headers or body, one that never answers and one that
  reads the upload slowly cannot hold an export (see :func:`deadline`). httpx has no such timeout; the
  clients of :func:`build_client` get it from their own network backend, passed to httpcore's connection
  pool through its documented ``network_backend`` parameter, under an httpx transport of their own
  (httpx's documented ``BaseTransport``): no private attribute of either library is touched;
- an answer kept in memory (a STOW-RS response, the start of an error body) is read up to a cap
  (:data:`DEFAULT_MAX_RESPONSE_BYTES`, ``max-response-bytes``) and not further, with
  ``Accept-Encoding: identity`` so that a small compressed answer cannot unpack to a large one;
- a 2xx body streamed to a sink (a ``wado:`` answer stored on its ``StorageID``) is cut off at a cap
  (:data:`DEFAULT_MAX_STORED_BYTES`, ``max-stored-bytes``): a larger one fails its request, one declaring a
  larger ``Content-Length`` is not read at all, and what the sink took is the caller's to throw away.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

import attrs

from dcm_exporter._secrets import mask_url
from dcm_exporter.errors import ConfigurationError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_STORED_BYTES",
    "DEFAULT_REQUEST_TIMEOUT",
    "Fetched",
    "HttpSettings",
    "RequestFailure",
    "build_client",
    "deadline",
    "deadline_passed",
    "fetch",
    "proxy_url",
    "read_capped",
    "request_failure",
]

log = logging.getLogger("dcm_exporter.transports.http")

_CHUNK = 1024 * 1024
_SNIPPET = 200

#: Seconds one whole request may take, answer included (``request-timeout``).
DEFAULT_REQUEST_TIMEOUT = 600.0
#: Bytes of an answer kept in memory at most (``max-response-bytes``).
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
#: Bytes of one answer streamed to storage at most (``max-stored-bytes``): a large multi-frame instance or a
#: study's worth of rendered frames fits, a server that never ends its body does not fill the disk.
DEFAULT_MAX_STORED_BYTES = 4 * 1024 * 1024 * 1024


@attrs.frozen(kw_only=True)
class HttpSettings:
    """How to reach a server: TLS checks, timeouts, proxy (credentials stay out of reprs)."""

    verify: bool = True
    check_hostname: bool = True
    ca_file: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    proxy: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class Fetched:
    """What one GET gave: an HTTP status, or an error before any status arrived.

    Attributes:
        status: the HTTP status code, ``None`` when the request failed before an answer.
        reason: the reason phrase, or what went wrong (connect error, timeout, dropped connection).
        size: bytes of body read.
        snippet: the start of the body of an error answer (for messages).
        retryable: whether trying later may help (network problems, 408, 425, 429, 5xx).
    """

    status: int | None
    reason: str
    size: int = 0
    snippet: str = ""
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def proxy_url(value: str, where: str) -> str:
    """dcm4che's ``dcmHTTPProxy`` (``[user:password@]host:port``) as an ``http://`` proxy URL.

    Raises:
        ConfigurationError: not ``[user:password@]host:port`` (the message masks the password).
    """
    text = value.strip()
    url = text if "://" in text else f"http://{text}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(
            f"{where}: dcmHTTPProxy {mask_url(url)!r} is not [user:password@]host:port: {exc}"
        ) from exc
    if parts.scheme.lower() == "https":
        # dcm4che's proxy is a plain HTTP proxy; TLS to the proxy inside TLS to the server is not done here
        raise ConfigurationError(f"{where}: dcmHTTPProxy {mask_url(url)!r}: only a plain HTTP proxy is supported")
    if parts.scheme.lower() != "http" or not parts.hostname or port is None:
        raise ConfigurationError(f"{where}: dcmHTTPProxy {mask_url(url)!r} is not [user:password@]host:port")
    return url


# --- the whole-request deadline ----------------------------------------------------------------------

_local = threading.local()


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Bound the requests this thread makes inside the block to ``seconds`` in all (``None``: no bound).

    httpx has timeouts per read and per write only; the sockets of the clients of :func:`build_client` wait
    at most for the time left in each operation, and fail as a timeout once it is gone (the thread-local
    works because httpx's sync client does its I/O in the calling thread)."""
    previous = getattr(_local, "at", None)
    _local.at = None if seconds is None else time.monotonic() + seconds
    try:
        yield
    finally:
        _local.at = previous


def deadline_passed() -> bool:
    """Whether this thread's :func:`deadline` has passed."""
    at = getattr(_local, "at", None)
    return at is not None and time.monotonic() >= at


def _limit(timeout: float | None, error: type[Exception]) -> tuple[float | None, bool]:
    """The wait allowed to one socket operation given httpx's per-operation ``timeout`` and this thread's
    :func:`deadline`, and whether the deadline is what limits it; ``error`` once the deadline has passed."""
    at: float | None = getattr(_local, "at", None)
    if at is None:
        return timeout, False
    left = at - time.monotonic()
    if left <= 0:
        raise error(_DEADLINE_PASSED)
    if timeout is None or left < timeout:
        return left, True
    return timeout, False


_DEADLINE_PASSED = "the request's deadline passed"


def _readable(sock: socket.socket) -> bool:
    """Whether ``sock`` has something to read (an idle pooled connection that the server closed)."""
    if sock.fileno() < 0:
        return True
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        return bool(selector.select(0))


def _deadline_backend() -> Any:
    """An httpcore network backend (httpcore's documented ``network_backend`` extension point) whose every
    socket operation waits at most for the time left before the calling thread's :func:`deadline`.

    Written on the socket rather than around httpcore's own backend: that one sends a buffer in a loop that
    reapplies one timeout to every ``send``, so a server reading the upload slowly could stretch one write
    far past the deadline. Each ``send``, ``recv``, connect and TLS handshake here gets the time left
    (CPython bounds a whole TLS handshake, read or write by the socket's timeout)."""
    import httpcore

    @contextlib.contextmanager
    def mapped(timed_out: type[Exception], failed: type[Exception], binds: bool) -> Iterator[None]:
        try:
            yield
        except TimeoutError as exc:  # socket.timeout, also for TLS operations
            raise timed_out(_DEADLINE_PASSED if binds else str(exc) or "timed out") from exc
        except OSError as exc:  # ssl.SSLError included: stow: looks for it behind the connect error
            raise failed(str(exc) or type(exc).__name__) from exc

    class Stream(httpcore.NetworkStream):
        def __init__(self, sock: socket.socket) -> None:
            self._sock = sock

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            wait, binds = _limit(timeout, httpcore.ReadTimeout)
            with mapped(httpcore.ReadTimeout, httpcore.ReadError, binds):
                self._sock.settimeout(wait)
                return self._sock.recv(max_bytes)

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            view = memoryview(buffer)
            while view:
                # the time left is taken again before every send: a slow reader cannot stretch the whole
                wait, binds = _limit(timeout, httpcore.WriteTimeout)
                with mapped(httpcore.WriteTimeout, httpcore.WriteError, binds):
                    self._sock.settimeout(wait)
                    view = view[self._sock.send(view):]

        def close(self) -> None:
            self._sock.close()

        def start_tls(
            self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
        ) -> httpcore.NetworkStream:
            if isinstance(self._sock, ssl.SSLSocket):
                # TLS inside TLS: an https:// server through an https:// proxy, which proxy_url refuses
                raise httpcore.ConnectError("TLS through a TLS proxy connection is not supported")
            wait, binds = _limit(timeout, httpcore.ConnectTimeout)
            try:
                with mapped(httpcore.ConnectTimeout, httpcore.ConnectError, binds):
                    self._sock.settimeout(wait)
                    return Stream(ssl_context.wrap_socket(self._sock, server_hostname=server_hostname))
            except Exception:
                self._sock.close()
                raise

        def get_extra_info(self, info: str) -> Any:
            if info == "ssl_object":  # httpcore asks it for the ALPN protocol chosen
                return self._sock if isinstance(self._sock, ssl.SSLSocket) else None
            if info == "client_addr":
                return self._sock.getsockname()
            if info == "server_addr":
                return self._sock.getpeername()
            if info == "socket":
                return self._sock
            if info == "is_readable":
                return _readable(self._sock)
            return None

    class Backend(httpcore.NetworkBackend):
        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Iterable[Any] | None = None,
        ) -> httpcore.NetworkStream:
            wait, binds = _limit(timeout, httpcore.ConnectTimeout)
            source = None if local_address is None else (local_address, 0)
            with mapped(httpcore.ConnectTimeout, httpcore.ConnectError, binds):
                sock = socket.create_connection((host, port), wait, source_address=source)
                try:
                    for option in socket_options or ():
                        sock.setsockopt(*option)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    sock.close()
                    raise
            return Stream(sock)

        def connect_unix_socket(
            self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
        ) -> httpcore.NetworkStream:  # pragma: no cover - the configuration names no unix sockets
            raise httpcore.ConnectError("unix sockets are not used by the HTTP transports")

        def sleep(self, seconds: float) -> None:  # pragma: no cover - httpcore sleeps between retries only
            time.sleep(seconds)

    return Backend()


def _transport(ssl_context: ssl.SSLContext, proxy: str | None, max_connections: int | None) -> httpx.BaseTransport:
    """An httpx transport (httpx's documented ``BaseTransport``) over an httpcore pool (or HTTP proxy) that
    runs on :func:`_deadline_backend`; httpcore's errors become httpx's, as :class:`httpx.HTTPTransport`
    would raise them, so that the callers handle one family."""
    import httpcore
    import httpx

    errors: tuple[tuple[type[Exception], type[httpx.RequestError]], ...] = (
        (httpcore.ConnectTimeout, httpx.ConnectTimeout),
        (httpcore.ReadTimeout, httpx.ReadTimeout),
        (httpcore.WriteTimeout, httpx.WriteTimeout),
        (httpcore.PoolTimeout, httpx.PoolTimeout),
        (httpcore.TimeoutException, httpx.TimeoutException),
        (httpcore.ConnectError, httpx.ConnectError),
        (httpcore.ReadError, httpx.ReadError),
        (httpcore.WriteError, httpx.WriteError),
        (httpcore.NetworkError, httpx.NetworkError),
        (httpcore.ProxyError, httpx.ProxyError),
        (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
        (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
        (httpcore.LocalProtocolError, httpx.LocalProtocolError),
        (httpcore.ProtocolError, httpx.ProtocolError),
    )

    @contextlib.contextmanager
    def as_httpx(request: httpx.Request) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            for theirs, ours in errors:
                if isinstance(exc, theirs):
                    raise ours(str(exc), request=request) from exc
            raise

    connections = 100 if max_connections is None else max_connections
    shared: dict[str, Any] = {
        "ssl_context": ssl_context,
        "max_connections": connections,
        "max_keepalive_connections": min(connections, 20),
        "keepalive_expiry": 5.0,
        "network_backend": _deadline_backend(),
    }
    pool: httpcore.ConnectionPool
    if proxy is None:
        pool = httpcore.ConnectionPool(**shared)
    else:
        parts = urlsplit(proxy)
        auth = (unquote(parts.username or ""), unquote(parts.password or ""))
        pool = httpcore.HTTPProxy(
            proxy_url=httpcore.URL(scheme=b"http", host=(parts.hostname or "").encode("ascii"), port=parts.port,
                                   target=b"/"),
            proxy_auth=auth if parts.username or parts.password else None,
            **shared,
        )

    class Body(httpx.SyncByteStream):
        def __init__(self, stream: Any, request: httpx.Request) -> None:
            self._stream = stream
            self._request = request

        def __iter__(self) -> Iterator[bytes]:
            with as_httpx(self._request):
                yield from self._stream

        def close(self) -> None:
            with as_httpx(self._request):
                self._stream.close()

    class Transport(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            core = httpcore.Request(
                method=request.method,
                url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port,
                                 target=request.url.raw_path),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
            with as_httpx(request):
                answer = pool.handle_request(core)
            return httpx.Response(status_code=answer.status, headers=answer.headers,
                                  stream=Body(answer.stream, request), extensions=answer.extensions)

        def close(self) -> None:
            pool.close()

    return Transport()


def read_capped(response: Any, limit: int, *, limit_note: str = "") -> tuple[bytes, str | None]:
    """The body of ``response`` (an open httpx streaming response) up to ``limit`` bytes, and why it was
    not read whole (``None``: it was; ``limit_note`` says where the limit comes from). Reads raw bytes: a
    compressed answer is refused, not unpacked."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return b"", f"the answer is compressed (Content-Encoding: {encoding[:40]}), which was not asked for"
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_raw(64 * 1024):
        size += len(chunk)
        if size > limit:
            note = f" ({limit_note})" if limit_note else ""
            return b"".join(chunks), f"the answer is larger than the limit of {limit} bytes{note}"
        chunks.append(chunk)
    return b"".join(chunks), None


def build_client(
    settings: HttpSettings,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    max_connections: int | None = None,
) -> httpx.Client:
    """An ``httpx.Client`` for ``settings`` whose requests honour :func:`deadline`; ``what`` names the
    transport for the missing-extra message."""
    try:
        import httpx
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigurationError(f"the {what} transport needs httpx: install dcm-exporter[dicomweb]") from exc
    if not settings.verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif settings.ca_file or not settings.check_hostname:
        try:
            context = ssl.create_default_context(cafile=settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"cannot load ca-file {settings.ca_file!r}: {exc}") from exc
        context.check_hostname = settings.check_hostname
    else:
        import certifi  # httpx's own CA bundle: what its verify=True uses

        context = ssl.create_default_context(cafile=certifi.where())
    transport = _transport(context, settings.proxy, max_connections)
    return httpx.Client(
        headers=dict(headers or {}),
        transport=transport,
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
        follow_redirects=False,
        trust_env=False,  # the proxy is the configuration's dcmHTTPProxy, not the environment's
    )


def fetch(
    client: httpx.Client,
    url: str,
    headers: Mapping[str, str],
    sink: IO[bytes] | None,
    *,
    request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
    max_bytes: int | None = None,
    limit_name: str = "max-stored-bytes",
) -> Fetched:
    """GET ``url``; a 2xx body goes to ``sink`` (or is read and dropped), an error body is summarised. The
    whole request, body included, takes at most ``request_timeout`` seconds.

    A 2xx body larger than ``max_bytes`` (``None``: no cap) fails the request, not retryable, with a reason
    naming the limit (``limit_name``) and the bytes taken; the caller throws away what ``sink`` holds. A
    ``Content-Length`` above the cap fails it before any byte of the body is read."""
    import httpx

    started = time.monotonic()
    try:
        with deadline(request_timeout), client.stream("GET", url, headers=dict(headers)) as response:
            status = response.status_code
            size = 0
            if 200 <= status < 300:
                if max_bytes is not None and _encoding(response) in ("", "identity"):
                    declared = _content_length(response)
                    if declared is not None and declared > max_bytes:
                        return _too_large(status, f"declares {declared} bytes", max_bytes, limit_name)
                for chunk in _decoded(response, _CHUNK):
                    if deadline_passed():  # a client built elsewhere (tests) has no bounded sockets
                        raise httpx.ReadTimeout("the request's deadline passed")
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        return _too_large(status, f"ran past it (more than {max_bytes} bytes sent)", max_bytes,
                                          limit_name)
                    if sink is not None:
                        sink.write(chunk)
                return Fetched(status=status, reason=response.reason_phrase, size=size)
            snippet = b""
            for chunk in _decoded(response, _SNIPPET):
                snippet += chunk
                if len(snippet) >= _SNIPPET:
                    break
            text = " ".join(snippet[:_SNIPPET].decode("utf-8", "replace").split())
            retryable = status in (408, 425, 429) or status >= 500
            return Fetched(status=status, reason=response.reason_phrase, snippet=text, retryable=retryable)
    except httpx.InvalidURL as exc:  # not an HTTPError
        return Fetched(status=None, reason=f"invalid URL: {_cause(exc)}", retryable=False)
    except _Undecodable as exc:
        return Fetched(status=None, reason=str(exc), retryable=False)
    except OSError as exc:  # the sink (a storage) failed to take the body
        return Fetched(status=None, reason=f"cannot store the answer: {exc}", retryable=False)
    except Exception as exc:
        failed = request_failure(exc)
        if failed is None:
            raise
        out_of_time = request_timeout is not None and time.monotonic() - started >= request_timeout
        if failed.kind == "connect_timeout":
            if out_of_time:
                return _network(
                    f"not connected (TLS handshake included) within the request timeout of {request_timeout:g} s"
                )
            return _network("connect timed out")
        if failed.kind == "connect":
            return _network(f"cannot connect: {_cause(exc)}")
        if failed.kind == "timeout":
            if out_of_time:
                return _network(f"no complete answer within the request timeout of {request_timeout:g} s")
            return _network("timed out waiting for the answer")
        if failed.kind == "dropped":
            return _network(f"connection dropped: {_cause(exc)}")
        return _network(f"{type(exc).__name__}: {_cause(exc)}")


class _Undecodable(Exception):
    """An answer in a content encoding that cannot be unpacked in bounded steps, or damaged."""


def _encoding(response: Any) -> str:
    return str(response.headers.get("content-encoding", "")).strip().lower()


def _decoded(response: Any, step: int) -> Iterator[bytes]:
    """The body of ``response`` unpacked from its ``Content-Encoding`` in pieces of at most ``step`` bytes.

    httpx would unpack each piece read from the network whole: 64 KiB of gzip can hold 64 MB. Only gzip and
    deflate (what httpx itself would unpack) are accepted; the answer's bytes go through zlib with a bound on
    every output.
    """
    encoding = _encoding(response)
    if encoding in ("", "identity"):
        yield from response.iter_raw(step)
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise _Undecodable(f"the answer is encoded as {encoding[:40]!r}, which cannot be unpacked here")
    gzip = encoding != "deflate"
    z = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)
    first = True
    try:
        for raw in response.iter_raw(64 * 1024):
            data = raw
            while True:
                try:
                    out = z.decompress(data, step)
                except zlib.error:
                    if gzip or not first:
                        raise
                    # "deflate" without its zlib wrapper, as some servers send it (httpx accepts both too)
                    z = zlib.decompressobj(-zlib.MAX_WBITS)
                    out = z.decompress(data, step)
                first = False
                if out:
                    yield out
                data = z.unconsumed_tail
                if not data and len(out) < step:
                    break
    except zlib.error as exc:
        raise _Undecodable(f"the answer's {encoding} data is damaged: {exc}") from None


def _content_length(response: Any) -> int | None:
    text = response.headers.get("content-length", "").strip()
    return int(text) if text.isdigit() else None  # a bad one is h11's to refuse while reading


def _too_large(status: int, how: str, limit: int, limit_name: str) -> Fetched:
    return Fetched(
        status=None,
        reason=f"the HTTP {status} answer {how}, larger than the limit of {limit} bytes ({limit_name}); "
        "nothing of it was kept",
        retryable=False,  # the same answer will be as large next time: raise the limit or fix the server
    )


@attrs.frozen
class RequestFailure:
    """How a request through a client of :func:`build_client` failed, for a caller that words it itself.

    ``kind``: ``"connect_timeout"`` (not connected in time, TLS handshake included), ``"connect"`` (refused,
    unreachable, TLS failed: :attr:`cause` holds the reason), ``"timeout"`` (no answer in time),
    ``"dropped"`` (the connection broke or the peer broke HTTP) or ``"other"``.
    """

    kind: Literal["connect_timeout", "connect", "timeout", "dropped", "other"]
    cause: BaseException


def request_failure(exc: BaseException) -> RequestFailure | None:
    """What kind of request failure httpx's ``exc`` is; ``None`` when httpx did not raise it as one.

    The one place that knows httpx's exception tree (most specific class first: a connect timeout is a
    timeout, a connect error a network error); :func:`fetch` and ``stow:`` word what it finds.
    """
    import httpx

    kind: Literal["connect_timeout", "connect", "timeout", "dropped", "other"]
    if isinstance(exc, httpx.ConnectTimeout):
        kind = "connect_timeout"
    elif isinstance(exc, httpx.ConnectError):
        kind = "connect"
    elif isinstance(exc, httpx.TimeoutException):
        kind = "timeout"
    elif isinstance(exc, (httpx.RemoteProtocolError, httpx.NetworkError)):
        kind = "dropped"
    elif isinstance(exc, httpx.HTTPError):
        kind = "other"
    else:
        return None
    return RequestFailure(kind=kind, cause=exc)


def _network(reason: str) -> Fetched:
    return Fetched(status=None, reason=reason, retryable=True)


def _cause(exc: Any) -> str:
    return str(exc) or type(exc).__name__
