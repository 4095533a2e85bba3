"""HTTP GET for transports that fetch (internal): the ``wado:`` transport's one door to httpx.

httpx is imported lazily here, so importing the transport does not load it. Every httpx error becomes a
:class:`Fetched` that says what happened; nothing from inside httpx reaches the caller. Bodies are streamed
in fixed-size chunks into a sink or discarded, so memory does not grow with a response.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from dcm_exporter._secrets import mask_url
from dcm_exporter.errors import ConfigurationError

if TYPE_CHECKING:
    import httpx

__all__ = ["Fetched", "HttpSettings", "build_client", "fetch", "proxy_url"]

_CHUNK = 1024 * 1024
_SNIPPET = 200


@attrs.frozen(kw_only=True)
class HttpSettings:
    """How to reach a server: TLS checks, timeouts, proxy (credentials stay out of reprs)."""

    verify: bool = True
    check_hostname: bool = True
    ca_file: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
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
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or port is None:
        raise ConfigurationError(f"{where}: dcmHTTPProxy {mask_url(url)!r} is not [user:password@]host:port")
    return url


def build_client(settings: HttpSettings, *, what: str) -> httpx.Client:
    """An ``httpx.Client`` for ``settings``; ``what`` names the transport for the missing-extra message."""
    try:
        import httpx
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigurationError(f"the {what} transport needs httpx: install dcm-exporter[dicomweb]") from exc
    verify: ssl.SSLContext | bool
    if not settings.verify:
        verify = False
    elif settings.ca_file or not settings.check_hostname:
        try:
            context = ssl.create_default_context(cafile=settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"cannot load ca-file {settings.ca_file!r}: {exc}") from exc
        context.check_hostname = settings.check_hostname
        verify = context
    else:
        verify = True
    return httpx.Client(
        verify=verify,
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
        follow_redirects=False,
        trust_env=False,  # the proxy is the configuration's dcmHTTPProxy, not the environment's
        proxy=settings.proxy,
    )


def fetch(client: httpx.Client, url: str, headers: Mapping[str, str], sink: IO[bytes] | None) -> Fetched:
    """GET ``url``; a 2xx body goes to ``sink`` (or is read and dropped), an error body is summarised."""
    import httpx

    try:
        with client.stream("GET", url, headers=dict(headers)) as response:
            status = response.status_code
            size = 0
            if 200 <= status < 300:
                for chunk in response.iter_bytes(_CHUNK):
                    size += len(chunk)
                    if sink is not None:
                        sink.write(chunk)
                return Fetched(status=status, reason=response.reason_phrase, size=size)
            snippet = b""
            for chunk in response.iter_bytes(_SNIPPET):
                snippet += chunk
                if len(snippet) >= _SNIPPET:
                    break
            text = " ".join(snippet[:_SNIPPET].decode("utf-8", "replace").split())
            retryable = status in (408, 425, 429) or status >= 500
            return Fetched(status=status, reason=response.reason_phrase, snippet=text, retryable=retryable)
    except httpx.ConnectTimeout:
        return _network("connect timed out")
    except httpx.ConnectError as exc:
        return _network(f"cannot connect: {_cause(exc)}")
    except httpx.TimeoutException:
        return _network("timed out waiting for the answer")
    except (httpx.RemoteProtocolError, httpx.NetworkError) as exc:
        return _network(f"connection dropped: {_cause(exc)}")
    except httpx.HTTPError as exc:
        return _network(f"{type(exc).__name__}: {_cause(exc)}")
    except httpx.InvalidURL as exc:  # not an HTTPError
        return Fetched(status=None, reason=f"invalid URL: {_cause(exc)}", retryable=False)
    except OSError as exc:  # the sink (a storage) failed to take the body
        return Fetched(status=None, reason=f"cannot store the answer: {exc}", retryable=False)


def _network(reason: str) -> Fetched:
    return Fetched(status=None, reason=reason, retryable=True)


def _cause(exc: Any) -> str:
    return str(exc) or type(exc).__name__
