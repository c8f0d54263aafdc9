"""A small client for the few GitHub REST endpoints mlgate calls, and what it reads from the Actions environment.

Endpoints (API version 2022-11-28):

- ``GET /repos/{owner}/{repo}/issues/{number}/comments`` (List issue comments; paginated by the ``Link``
  header, 100 per page), ``POST`` the same path (Create an issue comment), ``PATCH
  /repos/{owner}/{repo}/issues/comments/{id}`` (Update an issue comment): ``pull-requests: write`` (or
  ``issues: write``) for the GITHUB_TOKEN.
- ``GET /repos/{owner}/{repo}/environments/{name}`` (Get an environment): the ``actions: read`` permission
  ("Actions" repository permission, read, for fine-grained and app tokens; ``repo`` scope for a classic PAT on a
  private repository).
- ``GET /user``, only for a token that is not an app installation token (``ghs_``), to learn whose comments
  are ours.

Failures are sorted by what the user can do about them: :class:`ApiError` carries a 4xx answer (status,
GitHub's message, the permissions GitHub says it accepts); 5xx answers, rate limits and connection errors
are retried a bounded number of times and then raise :class:`gates.core.errors.InfraError` (exit 3).
The token goes into the ``Authorization`` header and nowhere else: no message, log or exception holds it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from gates import __version__
from gates.core.errors import InfraError, InputError

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PER_PAGE = 100  # the maximum GitHub allows for list endpoints
MAX_PAGES = 100  # 10,000 comments: a bound, not a limit anyone meets
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


class ApiError(Exception):
    """GitHub answered 4xx: the request was understood and refused (or the resource does not exist)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        method: str,
        path: str,
        accepted_permissions: str | None = None,
        documentation_url: str | None = None,
    ):
        super().__init__(f"{method} {path}: HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        self.accepted_permissions = accepted_permissions
        self.documentation_url = documentation_url

    def describe(self) -> str:
        """One line for the user: what was refused and, when GitHub says so, which permission would do."""
        text = f"{self.method} {self.path} returned HTTP {self.status} ({self.message})"
        if self.accepted_permissions:
            text += f"; GitHub accepts a token with {self.accepted_permissions}"
        return text


@dataclass(frozen=True)
class Identity:
    """Who the token acts as, as far as it can be told: a login, or only the account type."""

    login: str | None = None
    type: str | None = None  # "Bot" or "User"

    def owns(self, comment: Mapping[str, Any]) -> bool:
        user = comment.get("user") or {}
        if self.login:
            return str(user.get("login", "")).lower() == self.login.lower()
        if self.type:
            return user.get("type") == self.type
        return True


# -- the Actions environment --------------------------------------------------------------------------------------


def token_from_env(env: Mapping[str, str]) -> str:
    token = (env.get("GITHUB_TOKEN") or "").strip()
    if not token:
        raise InputError(
            "GITHUB_TOKEN is not set: pass the job's token to the step as env: GITHUB_TOKEN: ${{ github.token }}"
        )
    if not all(33 <= ord(ch) <= 126 for ch in token):
        raise InputError(
            "GITHUB_TOKEN holds whitespace, control or non-ASCII characters: it is not a GitHub token"
        )
    return token


def repository_from_env(env: Mapping[str, str]) -> str:
    repository = (env.get("GITHUB_REPOSITORY") or "").strip()
    owner, sep, name = repository.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise InputError(
            f"GITHUB_REPOSITORY {repository!r}: expected OWNER/REPO (GitHub Actions sets it in every job)"
            if repository
            else "GITHUB_REPOSITORY is not set: expected OWNER/REPO (GitHub Actions sets it in every job)"
        )
    return repository


def api_url_from_env(env: Mapping[str, str]) -> str:
    url = (env.get("GITHUB_API_URL") or DEFAULT_API_URL).strip().rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise InputError(f"GITHUB_API_URL {url!r}: expected an http(s) URL such as {DEFAULT_API_URL}")
    return url


def event_payload(env: Mapping[str, str]) -> dict[str, Any]:
    """The webhook payload of the event that started the run ({} when there is none)."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InputError(f"GITHUB_EVENT_PATH {path}: not a readable JSON event payload ({exc})") from None
    return data if isinstance(data, dict) else {}


def pull_request_number(env: Mapping[str, str], given: int | None = None) -> int | None:
    """--pr when given, else the event's pull_request.number (an issue_comment on a PR names it as issue)."""
    if given is not None:
        return given
    event = event_payload(env)
    pull = event.get("pull_request")
    if isinstance(pull, dict) and isinstance(pull.get("number"), int):
        return int(pull["number"])
    issue = event.get("issue")
    if isinstance(issue, dict) and issue.get("pull_request") and isinstance(issue.get("number"), int):
        return int(issue["number"])
    return None


def head_sha(env: Mapping[str, str]) -> str | None:
    """The commit the reports are about: the PR's head (GITHUB_SHA is the merge commit on pull_request)."""
    pull = event_payload(env).get("pull_request")
    if isinstance(pull, dict):
        sha = (pull.get("head") or {}).get("sha")
        if isinstance(sha, str) and sha:
            return sha
    return env.get("GITHUB_SHA") or None


def run_url(env: Mapping[str, str]) -> str | None:
    server, repository, run_id = (
        env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if not (server and repository and run_id):
        return None
    return f"{server.rstrip('/')}/{repository}/actions/runs/{run_id}"


# -- the client ---------------------------------------------------------------------------------------------------


class GitHubClient:
    """Requests with a timeout, bounded retries on 5xx / rate limits / connection errors, and pagination."""

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout: float = 15.0,
        retries: int = 2,
        backoff: float = 1.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
    ):
        self._token = token
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.session = session or requests.Session()
        self.sleep = sleep or time.sleep
        self._origin = _origin(self.api_url)

    def __repr__(self) -> str:  # never the token
        return f"GitHubClient({self.api_url!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> GitHubClient:
        env = os.environ if env is None else env
        return cls(token_from_env(env), api_url_from_env(env), **kwargs)

    @property
    def token_kind(self) -> str:
        """'installation' for a GitHub App installation token (GITHUB_TOKEN is one), else 'personal'."""
        return "installation" if self._token.startswith("ghs_") else "personal"

    def _headers(self) -> dict[str, str]:
        return {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self._token}",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": f"mlgate/{__version__}",
        }

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> requests.Response:
        """One call; ``path`` is relative to the API URL, or a full URL on the same origin (a Link ``next``)."""
        url = path if path.startswith(("http://", "https://")) else f"{self.api_url}{path}"
        if _origin(url) != self._origin:
            raise InfraError(f"GitHub pointed mlgate at {_origin(url)}, not {self._origin}: not following it")
        shown = urlsplit(url).path
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff * (2 ** (attempt - 1)))
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers=self._headers(),
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.exceptions.Timeout:
                last = f"timed out after {self.timeout:g} s"
                continue
            except requests.exceptions.RequestException as exc:
                last = f"cannot connect ({type(exc).__name__})"
                continue
            status = response.status_code
            if status in RETRYABLE_STATUS:
                last = f"HTTP {status}"
                continue
            if _rate_limited(response):
                last = f"HTTP {status}: rate limit exceeded ({_message(response)})"
                continue
            if status >= 400:
                raise ApiError(
                    status,
                    _message(response),
                    method=method,
                    path=shown,
                    accepted_permissions=response.headers.get("X-Accepted-GitHub-Permissions"),
                    documentation_url=_field(response, "documentation_url"),
                )
            if 300 <= status < 400:
                raise InfraError(f"GitHub API {method} {shown}: unexpected redirect (HTTP {status})")
            return response
        raise InfraError(
            f"GitHub API {method} {shown} failed after {self.retries + 1} attempts: {last} ({self.api_url})"
        )

    def paginate(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, following ``Link: <...>; rel="next"`` until there is none."""
        url: str | None = path
        query: Mapping[str, Any] | None = {"per_page": PER_PAGE, **(params or {})}
        for _ in range(MAX_PAGES):
            assert url is not None
            response = self.request("GET", url, params=query)
            items = _json(response)
            if not isinstance(items, list):
                raise InfraError(f"GitHub API GET {urlsplit(url).path}: expected a JSON list")
            yield from (item for item in items if isinstance(item, dict))
            url = (response.links.get("next") or {}).get("url")
            query = None  # the next link carries the query
            if not url:
                return
        raise InfraError(f"GitHub API GET {path}: more than {MAX_PAGES} pages")

    # -- endpoints ------------------------------------------------------------------------------------------------
    def list_issue_comments(self, repository: str, number: int) -> list[dict[str, Any]]:
        return list(self.paginate(f"/repos/{repository}/issues/{number}/comments"))

    def create_issue_comment(self, repository: str, number: int, body: str) -> dict[str, Any]:
        created: dict[str, Any] = _json(
            self.request("POST", f"/repos/{repository}/issues/{number}/comments", body={"body": body})
        )
        return created

    def update_issue_comment(self, repository: str, comment_id: int, body: str) -> dict[str, Any]:
        created: dict[str, Any] = _json(
            self.request("PATCH", f"/repos/{repository}/issues/comments/{comment_id}", body={"body": body})
        )
        return created

    def open_pull_requests(self, repository: str, head: str, base: str) -> list[dict[str, Any]]:
        """The open pull requests from ``head`` (``owner:branch``) into ``base``."""
        query = {"head": head, "base": base, "state": "open"}
        return list(self.paginate(f"/repos/{repository}/pulls", query))

    def create_pull_request(
        self, repository: str, head: str, base: str, title: str, body: str
    ) -> dict[str, Any]:
        created: dict[str, Any] = _json(
            self.request(
                "POST",
                f"/repos/{repository}/pulls",
                body={"head": head, "base": base, "title": title, "body": body},
            )
        )
        return created

    def get_environment(self, repository: str, name: str) -> dict[str, Any] | None:
        """The environment, or None when GitHub answers 404 (it does not exist)."""
        try:
            data = _json(self.request("GET", f"/repos/{repository}/environments/{quote(name, safe='')}"))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(data, dict):
            raise InfraError(f"GitHub API GET environment {name!r}: expected a JSON object")
        return data

    def identity(self) -> Identity:
        """Whose comments are ours. An installation token (GITHUB_TOKEN) comments as a Bot and cannot read
        ``/user``; any other token can, and then its login is known. Unknown when ``/user`` is refused."""
        if self.token_kind == "installation":
            return Identity(type="Bot")
        try:
            user = _json(self.request("GET", "/user"))
        except ApiError:
            return Identity()
        if isinstance(user, dict) and user.get("login"):
            return Identity(login=str(user["login"]), type=user.get("type"))
        return Identity()


# -- the comment upsert -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upserted:
    action: str  # "created" or "updated"
    comment: dict[str, Any]
    others: int  # older comments with our marker, left alone


def find_marked(comments: list[dict[str, Any]], marker: str, identity: Identity) -> list[dict[str, Any]]:
    """Comments that carry ``marker`` and were written by ``identity``, newest first.

    A body that starts with the marker is ours for sure; one that only contains it (a quote, a hand edit)
    counts only when no comment starts with it."""
    owned = [c for c in comments if identity.owns(c) and isinstance(c.get("body"), str)]
    leading = [c for c in owned if c["body"].lstrip().startswith(marker)]
    chosen = leading or [c for c in owned if marker in c["body"]]
    return sorted(chosen, key=lambda c: (str(c.get("created_at") or ""), int(c.get("id") or 0)), reverse=True)


def upsert_comment(
    client: GitHubClient,
    repository: str,
    number: int,
    marker: str,
    body: str,
    identity: Identity | None = None,
) -> Upserted:
    """Update the newest comment of ours that carries ``marker``, or create one: one comment per PR and
    workflow, however many pushes."""
    who = identity if identity is not None else client.identity()
    mine = find_marked(client.list_issue_comments(repository, number), marker, who)
    if mine:
        updated = client.update_issue_comment(repository, int(mine[0]["id"]), body)
        return Upserted("updated", updated, len(mine) - 1)
    return Upserted("created", client.create_issue_comment(repository, number, body), 0)


# -- helpers ------------------------------------------------------------------------------------------------------


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise InfraError(
            f"GitHub API {urlsplit(response.url or '').path}: HTTP {response.status_code} with a body that is "
            "not JSON"
        ) from None


def _field(response: requests.Response, name: str) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    value = data.get(name) if isinstance(data, dict) else None
    return str(value) if value is not None else None


def _message(response: requests.Response) -> str:
    return (_field(response, "message") or response.reason or "no message")[:300]


def _rate_limited(response: requests.Response) -> bool:
    """GitHub signals a primary or secondary rate limit with 403 or 429 (not a permission problem)."""
    if response.status_code == 429:
        return True
    if response.status_code != 403:
        return False
    if response.headers.get("X-RateLimit-Remaining") == "0" or response.headers.get("Retry-After"):
        return True
    return "rate limit" in _message(response).lower()
