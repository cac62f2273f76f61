"""The one place for wenda's exceptions.

Library code raises these; the surfaces in ``api/`` map them to exit codes (CLI), HTTP statuses
and MCP tool errors. Each message is one line a user can act on.
"""
from __future__ import annotations


class WendaError(Exception):
    """Base class: anything wenda reports to a user. Exit status 1 unless a subclass says otherwise."""

    exit_code = 1
    http_status = 500
    code = "internal_error"


class BadInput(WendaError):
    """The user asked for something malformed: empty query, bad k, unreadable file argument."""

    exit_code = 2
    http_status = 400
    code = "bad_input"


class InputTooLarge(BadInput):
    """A query or request body beyond the configured cap."""

    http_status = 413
    code = "too_large"


class NotFound(WendaError):
    """A document, passage or path that does not exist."""

    exit_code = 2
    http_status = 404
    code = "not_found"


class IndexMissing(WendaError):
    """No index has been built in the folder yet."""

    http_status = 503
    code = "index_missing"


class IndexCorrupt(WendaError):
    """An index file fails its checks; the message names the file and says to run `wenda index`."""

    http_status = 503
    code = "index_corrupt"


class IndexMismatch(WendaError):
    """The index was built with another model (or format) than the one asked for."""

    http_status = 409
    code = "index_mismatch"


class IndexBusy(WendaError):
    """Another `wenda index` holds the writer lock on this folder."""

    http_status = 409
    code = "index_busy"


class ModelError(WendaError):
    """An embedding model cannot be loaded offline, or its cached copy is damaged."""

    code = "model_error"


class LLMError(WendaError):
    """The optional OpenAI-compatible endpoint failed, timed out or answered unusably."""

    http_status = 502
    code = "llm_error"


class UnreadableDocument(BadInput):
    """One corpus file cannot be turned into text (corrupt, encrypted, empty, a zip bomb, a reader's
    library missing). The build skips the file with this one-line reason and goes on."""

    code = "unreadable_document"


# -- the serving surfaces' own errors (raised in api/, defined here so there is one errors module) --

class NotReady(WendaError):
    """The server is still loading the index and the model."""

    http_status = 503
    code = "not_ready"


class RequestTimeout(WendaError):
    """A request ran past the server's time limit."""

    http_status = 504
    code = "timeout"


class Unauthorized(WendaError):
    """The server needs an API key and the request did not carry the right one."""

    http_status = 401
    code = "unauthorized"


class Forbidden(WendaError):
    """A write the server does not take from this client (no API key set and not a loopback client)."""

    http_status = 403
    code = "forbidden"


class UnsupportedMediaType(WendaError):
    """A request body of a type the endpoint does not take."""

    http_status = 415
    code = "unsupported_media_type"


class BackendUnavailable(WendaError):
    """The Milvus that holds the index cannot be reached (down, wrong address, wrong token)."""

    http_status = 503
    code = "backend_unavailable"
