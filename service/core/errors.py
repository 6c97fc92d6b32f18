"""Domain exceptions. Code below the HTTP layer raises these; `service.http.errors` maps them
to responses.

ServiceError                 every error a request can end with; carries status and code
├── InvalidRequest           400  malformed or wrong-typed input, empty text
│   ├── UnsupportedLanguage  400  no model serves the asked language pair
│   └── FetchRefused         400  a `url` the service will not fetch: scheme, credentials, an
│                                 address not public (nor in FETCH_ALLOW), too many redirects
├── FetchFailed              422  the page could not be read: unreachable, timed out, an error
│                                 status, no article in it
│   └── CallbackRefused      400  a job's `callback_url` the service will not call: scheme,
│                                 credentials, an address not public (nor in JOBS_WEBHOOK_ALLOW),
│                                 or no JOBS_WEBHOOK_SECRET to sign with
├── Unauthorized             401  API keys are on and the request has none or an unknown one
├── NotFound                 404  no such job or document, or one another API key owns (never told
│                                 apart); a document's result downloaded already
├── NotReady                 409  a background document's result asked for before it is done
│                                 (queued, running), or when it failed or was cancelled
├── RateLimited              429  the caller's rate limit is spent; Retry-After says until when
│   ├── QuotaExceeded        429  its character limit (RATE_LIMIT_CHARS), which DeepL calls a quota
│   └── TooManyJobs          429  the caller has JOBS_MAX_IN_FLIGHT jobs queued or running
├── PayloadTooLarge          413  body, text or item count (or a fetched page) over a limit
├── UnsupportedMediaType     415  body is not JSON; a fetched page is not HTML or plain text; a
│                                 document whose format is not served (decided by its content)
├── Overloaded               503  the model's queue is full; comes with Retry-After
├── ModelUnavailable         503  the model is not loaded (yet) or its worker has stopped
├── OutOfMemory              503  one item alone does not fit in device memory
├── LimiterUnavailable       503  the shared rate-limit store is down and limits fail closed
├── JobsUnavailable          503  the job store cannot be reached; comes with Retry-After
├── StorageFull              503  the temporary store of translated documents is full; comes with
│                                 Retry-After (downloads and retention free it)
├── ItemTimeout              504  a request did not finish within ITEM_TIMEOUT_S
└── GenerationFailed         500  the model raised while generating; details only in the log

StartupError                 not a request error: the service cannot start
├── ConfigError              a setting does not parse or names something impossible
└── ModelLoadError           a configured model cannot be loaded (missing, offline, broken)
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An error that ends a request. `message` is safe to show to the client."""

    status: int = 500
    code: str = "internal_error"
    # Whether the same request may succeed shortly: the response then carries Retry-After.
    retry_after: bool = False

    def __init__(
        self, message: str, *, field: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # Headers the response must carry (WWW-Authenticate, a computed Retry-After).
        self.headers = headers or {}


class InvalidRequest(ServiceError):
    status = 400
    code = "invalid_request"


class UnsupportedLanguage(InvalidRequest):
    code = "unsupported_language"


class FetchRefused(InvalidRequest):
    code = "fetch_refused"


class CallbackRefused(InvalidRequest):
    code = "callback_refused"


class FetchFailed(ServiceError):
    status = 422
    code = "fetch_failed"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class NotReady(ServiceError):
    status = 409
    code = "not_ready"


class RateLimited(ServiceError):
    status = 429
    code = "rate_limited"


class QuotaExceeded(RateLimited):
    """The character limit is spent, not the request limit: the same status and code on every
    surface but DeepL's, whose clients tell a spent quota (456) from too many requests (429)."""


class TooManyJobs(RateLimited):
    """Finishing (or cancelling) a job frees its place: no Retry-After, no time would be true."""

    code = "too_many_jobs"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "unsupported_media_type"


class Overloaded(ServiceError):
    status = 503
    code = "overloaded"
    retry_after = True


class ModelUnavailable(ServiceError):
    status = 503
    code = "model_unavailable"
    retry_after = True


class OutOfMemory(ServiceError):
    status = 503
    code = "out_of_memory"


class LimiterUnavailable(ServiceError):
    status = 503
    code = "rate_limit_unavailable"
    retry_after = True


class JobsUnavailable(ServiceError):
    status = 503
    code = "jobs_unavailable"
    retry_after = True


class StorageFull(ServiceError):
    status = 503
    code = "storage_full"
    retry_after = True


class ItemTimeout(ServiceError):
    status = 504
    code = "timeout"

    def __init__(
        self, message: str = "the request did not finish in time; try again later", **kw: Any
    ) -> None:
        super().__init__(message, **kw)


class GenerationFailed(ServiceError):
    status = 500
    code = "generation_failed"


class StartupError(Exception):
    """The service cannot start; the message says what to change."""


class ConfigError(StartupError):
    pass


class ModelLoadError(StartupError):
    pass
