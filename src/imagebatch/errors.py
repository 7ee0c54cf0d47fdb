"""Every error imagebatch raises on purpose.

ImagebatchError
├── InputError            bad user input; carries one InputIssue per problem (where, what, hint)
├── IllegalTransition     a state change the state machine forbids
├── NotFound              no such batch / task / image (or not yours to see)
├── Conflict              it already exists (a user name, an asset)
├── NotAuthenticated      no valid session, token or password
├── Forbidden             authenticated, but not allowed (admin only, disabled)
├── TooManyAttempts       slow down (failed logins); retry_after in seconds
│   └── TooManyActiveTasks    a user's queue is full (limit, active, requested)
├── TooLarge              a request or upload over its size or count limit
├── ConfigurationError    settings that cannot work
└── ProviderError         a provider call failed; adapters translate wire errors into these
    ├── RetryableError    worth another attempt (retry_after: seconds the provider asked for)
    │   ├── RateLimited           HTTP 429 and friends
    │   ├── ProviderUnavailable   5xx, overloaded
    │   ├── ProviderTimeout       no answer in time
    │   └── ConnectionFailed      could not reach the provider
    └── FinalError        retrying cannot help; the provider's message is kept
        ├── ContentRejected       safety filters refused the prompt or the output
        ├── InvalidRequest        the provider refused the parameters
        └── AuthFailed            missing, wrong or disabled API key
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: the values a translated message is made of (numbers, names, a row and column, limits)
Params = Mapping[str, str | int | float]


class ImagebatchError(Exception):
    """Unexpected imagebatch error."""

    #: a stable machine name for pages to translate (e.g. "user_exists"); None: from the type
    code: str | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        params: Params | None = None,
    ) -> None:
        super().__init__(message or (self.__doc__ or "").strip())
        if code is not None:
            self.code = code
        #: the values a translated message needs (a user name, a batch id…)
        self.params: dict[str, str | int | float] = dict(params or {})

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True, slots=True)
class InputIssue:
    """One problem in user input: where it is, what is wrong, how to fix it; and, for pages
    that speak another language, a stable `code` with the `params` its message is made of
    (the catalogues' `issue.<code>`; docs/server-api.md lists them)."""

    where: str
    problem: str
    hint: str = ""
    code: str = "invalid"
    #: "row" (and "column") place the issue in a table; the rest fill the message
    params: Params = field(default_factory=dict, hash=False)

    def __str__(self) -> str:
        text = f"{self.where}: {self.problem}"
        return f"{text} ({self.hint})" if self.hint else text


class InputError(ImagebatchError):
    """The input is invalid; nothing was enqueued."""

    def __init__(self, issues: list[InputIssue] | InputIssue, message: str | None = None) -> None:
        self.issues = [issues] if isinstance(issues, InputIssue) else list(issues)
        summary = message or f"{len(self.issues)} problem(s) in the input; nothing was enqueued"
        super().__init__(summary + "".join(f"\n  - {issue}" for issue in self.issues))


class IllegalTransition(ImagebatchError):
    """This state change is not allowed."""

    code = "illegal_state"


class NotFound(ImagebatchError):
    """No such object."""


class Conflict(ImagebatchError):
    """It already exists."""


class NotAuthenticated(ImagebatchError):
    """Log in first (or send a valid API token)."""


class Forbidden(ImagebatchError):
    """You are not allowed to do this."""


class TooManyAttempts(ImagebatchError):
    """Too many attempts; wait before trying again."""

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float = 60.0,
        code: str | None = None,
        params: Params | None = None,
    ) -> None:
        super().__init__(message, code=code, params=params)
        self.retry_after = retry_after


class TooManyActiveTasks(TooManyAttempts):
    """Too many of your tasks are waiting or running; wait for some to finish."""

    code = "active_tasks"

    def __init__(self, limit: int, active: int, requested: int) -> None:
        super().__init__(
            f"you have {active} tasks waiting or running and this adds {requested}: "
            f"at most {limit} may be active at once; wait for some to finish or cancel a batch",
            retry_after=60.0,
            params={"limit": limit, "active": active, "requested": requested},
        )
        self.limit = limit
        self.active = active
        self.requested = requested


class TooLarge(ImagebatchError):
    """The request is too large."""


class ConfigurationError(ImagebatchError):
    """The configuration cannot work."""


class ProviderError(ImagebatchError):
    """The provider call failed."""

    retryable = False

    def __init__(self, message: str | None = None, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id

    @property
    def kind(self) -> str:
        return type(self).__name__


class RetryableError(ProviderError):
    """The provider call failed in a way worth retrying."""

    retryable = True

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.retry_after = retry_after


class RateLimited(RetryableError):
    """The provider is rate limiting us (HTTP 429)."""


class ProviderUnavailable(RetryableError):
    """The provider is failing or overloaded (HTTP 5xx)."""


class ProviderTimeout(RetryableError):
    """The provider did not answer in time."""


class ConnectionFailed(RetryableError):
    """The provider could not be reached."""


class FinalError(ProviderError):
    """The provider refused the request; retrying cannot help."""


class ContentRejected(FinalError):
    """The provider's safety filters rejected the prompt or the output."""


class InvalidRequest(FinalError):
    """The provider rejected the request parameters."""


class AuthFailed(FinalError):
    """The provider rejected the API key."""


class QuotaExhausted(FinalError):
    """The account's quota or spend cap is used up; retrying will not help until it is raised."""
