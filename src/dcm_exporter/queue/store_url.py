"""``open_store(url)``: one way to open a task store from the URL the CLI's ``--queue`` takes.

``sqlite:PATH`` (or a plain path) opens a :class:`~dcm_exporter.queue.sqlite.SqliteTaskStore`,
``postgresql://...`` / ``postgres://...`` a ``PostgresTaskStore`` (psycopg is imported only then) and
``memory:`` an :class:`~dcm_exporter.queue.memory.InMemoryTaskStore` whose tasks vanish with the process.
"""

from __future__ import annotations

import os
import re
from typing import Any

from dcm_exporter.errors import ConfigurationError
from dcm_exporter.queue.store import TaskStore

__all__ = ["STORE_URL_FORMS", "masked_url", "no_store_error", "open_store"]

#: The URL forms :func:`open_store` understands, as error messages list them.
STORE_URL_FORMS = "sqlite:PATH, postgresql://USER@HOST/DB or memory:"

# A scheme of two or more letters: one letter followed by ':' is a Windows drive, i.e. a plain path.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")


def open_store(url: str | os.PathLike[str], **options: Any) -> TaskStore:
    """Open the task store a URL names.

    Args:
        url: ``sqlite:PATH`` (``sqlite:///abs/path`` too) or a plain file path; ``postgresql://...`` or
            ``postgres://...`` (a libpq URL); ``memory:`` for a store that keeps nothing after the process.
        options: keyword arguments for the store class (e.g. ``schema=`` for PostgreSQL,
            ``busy_timeout=`` for SQLite); ``create=False`` opens only a store that exists (no file, schema
            or table is created: for readers).

    Raises:
        ConfigurationError: an unknown scheme, or a ``sqlite:`` URL without a path.
        QueueError: the store cannot be opened (file not writable, server unreachable, psycopg missing).

    >>> store = open_store("memory:")
    >>> type(store).__name__
    'InMemoryTaskStore'
    >>> open_store("mysql://db/queue")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dcm_exporter.errors.ConfigurationError: unknown task store scheme 'mysql' in 'mysql://db/queue': ...
    """
    text = os.fspath(url)
    match = _SCHEME.match(text)
    scheme = match.group(1).lower() if match else None
    if scheme in ("postgresql", "postgres"):
        from dcm_exporter.queue.postgres import PostgresTaskStore

        return PostgresTaskStore(text, **options)
    if scheme == "memory":
        options.pop("create", None)  # nothing to leave behind
        if text[len("memory:"):].strip("/"):
            raise ConfigurationError(f"{text!r}: an in-memory task store takes no path; use memory:")
        from dcm_exporter.queue.memory import InMemoryTaskStore

        return InMemoryTaskStore(**options)
    if scheme not in (None, "sqlite"):
        raise ConfigurationError(f"unknown task store scheme {scheme!r} in {masked_url(text)!r}: use {STORE_URL_FORMS}")
    from dcm_exporter.queue.sqlite import SqliteTaskStore

    path = text[match.end():] if match else text
    if match and path.startswith("//"):  # sqlite:///abs/path or sqlite://relative/path
        path = path[2:]
    if not path:
        raise ConfigurationError(f"{text!r} names no file: use sqlite:PATH")
    return SqliteTaskStore(path, **options)


def masked_url(url: str) -> str:
    """``url`` without its password, for messages and banners (a URL's ``user:password@`` and a
    connection string's ``password=...`` alike).

    >>> masked_url("postgresql://alice:s3cret@db/queue")
    'postgresql://alice:***@db/queue'
    >>> masked_url("host=db user=alice password=s3cret dbname=queue")
    'host=db user=alice password=*** dbname=queue'
    """
    url = re.sub(r"(//[^/:@]*:)[^/@]*@", r"\1***@", url)
    return re.sub(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", url)


def no_store_error(what: str) -> ConfigurationError:
    """The error for a queued operation without a task store: says what needed it and how to give one."""
    return ConfigurationError(
        f"{what} needs a task store, and none was given: pass store=dcm_exporter.queue.open_store(URL) "
        f"with URL one of {STORE_URL_FORMS} (memory: keeps tasks only until the process ends), "
        "e.g. Exporter(configuration, source, store=open_store('sqlite:exports.sqlite'))"
    )
