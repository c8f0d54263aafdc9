"""A small fake of the GitHub REST API on 127.0.0.1, for the endpoints mlgate calls and nothing else.

Shapes follow GitHub's REST reference (API version 2022-11-28):

- ``GET /repos/{owner}/{repo}/issues/{number}/comments``: a JSON list, ``per_page`` (default 30, max 100) and
  ``page``; a ``Link`` header with ``next`` / ``last`` (and ``prev`` / ``first``) pointing, as GitHub's do, at
  ``/repositories/{id}/issues/{number}/comments?...``, which this fake serves too.
- ``POST`` the same path: 201 and the comment; 422 ``Validation Failed`` when the body is missing or longer than
  65,536 characters.
- ``PATCH /repos/{owner}/{repo}/issues/comments/{id}``: 200 and the comment.
- ``GET /repos/{owner}/{repo}/environments/{name}`` (name URL-encoded): the environment, or 404.
- ``GET /user``: the token's user; 403 for an installation token (``ghs_``), as GitHub answers.

Errors are GitHub's: ``{"message", "documentation_url", "status"}``; 401 ``Bad credentials`` for an unknown
token; 403 ``Resource not accessible by integration`` with ``X-Accepted-GitHub-Permissions`` when the token
lacks the permission (a fork's pull request gets a read-only token); 404 ``Not Found``.
Tokens carry permissions (``pull_requests``: ``read`` / ``write``, ``actions``: ``read``). ``fail_next``
makes the next requests answer 5xx; ``requests`` records every call (method, path, query; never the token).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

DOCS = "https://docs.github.com/rest"
COMMENT_LIMIT = 65_536
EPOCH = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


@dataclass
class Token:
    login: str = "github-actions[bot]"
    type: str = "Bot"
    id: int = 41898282
    pull_requests: str | None = "write"  # None, "read" or "write"
    actions: str | None = "read"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    authorized: bool


@dataclass
class FakeGitHub:
    """State and a running server: start() it, stop() it when done."""

    repository: str = "octo-org/model-repo"
    repository_id: int = 1296269
    pulls: set[int] = field(default_factory=lambda: {7})
    tokens: dict[str, Token] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # issue number -> comments
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    issues: list[dict[str, Any]] = field(default_factory=list)  # POST /issues (the monitor's regressions)
    opened: list[dict[str, Any]] = field(default_factory=list)  # POST /pulls (GitOps promotions)
    dispatches: list[dict[str, Any]] = field(
        default_factory=list
    )  # workflow_dispatch events: workflow, ref, inputs
    requests: list[Recorded] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)  # statuses the next requests answer with
    _next_id: int = 1000
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> FakeGitHub:
        fake = self

        class Handler(_Handler):
            state = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- test helpers ---------------------------------------------------------------------------------------------
    def env(self, token: str, **extra: str) -> dict[str, str]:
        """The variables GitHub Actions sets for a job, pointed at this fake."""
        return {
            "GITHUB_API_URL": self.url,
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_TOKEN": token,
            **extra,
        }

    def fail_next(self, status: int, times: int = 1) -> None:
        with self._lock:
            self.failures += [status] * times

    def add_comment(
        self, number: int, body: str, login: str = "octocat", type: str = "User"
    ) -> dict[str, Any]:
        with self._lock:
            return self._create(number, body, Token(login=login, type=type, id=hash(login) % 10**7))

    def all_comments(self, number: int = 7) -> list[dict[str, Any]]:
        return list(self.comments.get(number, []))

    def calls(self, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if method is None or r.method == method]

    # -- state changes (under the lock) ---------------------------------------------------------------------------
    def _create(self, number: int, body: str, token: Token) -> dict[str, Any]:
        self._next_id += 1
        cid = self._next_id
        stamp = (EPOCH + timedelta(seconds=cid)).strftime("%Y-%m-%dT%H:%M:%SZ")
        api = f"https://api.github.com/repos/{self.repository}"
        comment = {
            "id": cid,
            "node_id": f"IC_kwDO{cid:08d}",
            "url": f"{api}/issues/comments/{cid}",
            "html_url": f"https://github.com/{self.repository}/pull/{number}#issuecomment-{cid}",
            "body": body,
            "user": _user(token),
            "created_at": stamp,
            "updated_at": stamp,
            "issue_url": f"{api}/issues/{number}",
            "author_association": "NONE" if token.type == "Bot" else "MEMBER",
            "reactions": {"url": f"{api}/issues/comments/{cid}/reactions", "total_count": 0},
        }
        if token.type == "Bot":
            comment["performed_via_github_app"] = {
                "id": 15368,
                "slug": "github-actions",
                "name": "GitHub Actions",
            }
        self.comments.setdefault(number, []).append(comment)
        return comment


def _user(token: Token) -> dict[str, Any]:
    return {
        "login": token.login,
        "id": token.id,
        "node_id": f"MDQ6VXNlcj{token.id}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{token.id}?v=4",
        "url": f"https://api.github.com/users/{token.login}",
        "html_url": f"https://github.com/{token.login}",
        "type": token.type,
        "site_admin": False,
    }


def environment(
    name: str,
    reviewers: list[dict[str, Any]] | None = None,
    wait_timer: int | None = None,
    branch_policy: bool = False,
) -> dict[str, Any]:
    """An environment as GET /repos/{owner}/{repo}/environments/{name} returns it; ``reviewers`` are entries
    such as ``{"type": "User", "reviewer": {"login": "octocat", "id": 1}}``; None means no such rule."""
    rules: list[dict[str, Any]] = []
    if wait_timer is not None:
        rules.append(
            {"id": 3736, "node_id": "MDQ6R2F0ZTM3MzY=", "type": "wait_timer", "wait_timer": wait_timer}
        )
    if reviewers is not None:
        rules.append(
            {
                "id": 3755,
                "node_id": "MDQ6R2F0ZTM3NTU=",
                "prevent_self_review": False,
                "type": "required_reviewers",
                "reviewers": reviewers,
            }
        )
    if branch_policy:
        rules.append({"id": 3756, "node_id": "MDQ6R2F0ZTM3NTY=", "type": "branch_policy"})
    api = "https://api.github.com/repos/octo-org/model-repo"
    return {
        "id": 161088068,
        "node_id": "MDExOkVudmlyb25tZW50MTYxMDg4MDY4",
        "name": name,
        "url": f"{api}/environments/{name}",
        "html_url": f"https://github.com/octo-org/model-repo/deployments/activity_log?environments_filter={name}",
        "created_at": "2020-11-23T22:00:40Z",
        "updated_at": "2020-11-23T22:00:40Z",
        "can_admins_bypass": True,
        "protection_rules": rules,
        "deployment_branch_policy": (
            {"protected_branches": False, "custom_branch_policies": True} if branch_policy else None
        ),
    }


def user_reviewer(login: str, uid: int = 1) -> dict[str, Any]:
    return {"type": "User", "reviewer": _user(Token(login=login, type="User", id=uid))}


def team_reviewer(slug: str, tid: int = 1) -> dict[str, Any]:
    return {
        "type": "Team",
        "reviewer": {
            "id": tid,
            "node_id": "MDQ6VGVhbTE=",
            "url": f"https://api.github.com/teams/{tid}",
            "name": slug.replace("-", " ").title(),
            "slug": slug,
            "privacy": "closed",
            "permission": "admin",
            "parent": None,
        },
    }


class _Handler(BaseHTTPRequestHandler):
    state: FakeGitHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    # -- plumbing -------------------------------------------------------------------------------------------------
    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, doc: str = "", headers: dict[str, str] | None = None) -> None:
        self._send(
            status,
            {"message": message, "documentation_url": f"{DOCS}{doc}", "status": str(status)},
            headers,
        )

    def _forbidden(self, accepted: str, doc: str) -> None:
        self._error(
            403, "Resource not accessible by integration", doc, {"X-Accepted-GitHub-Permissions": accepted}
        )

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None

    def _dispatch(self, method: str) -> None:
        state = self.state
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        segments = [unquote(s) for s in parts.path.strip("/").split("/")]
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        body = self._body() if method in ("POST", "PATCH") else None
        with state._lock:
            state.requests.append(Recorded(method, parts.path, query, bool(token)))
            failure = state.failures.pop(0) if state.failures else None
        if failure:
            self._send(failure, {"message": "Server Error"} if failure != 503 else {"message": "Unavailable"})
            return
        who = state.tokens.get(token or "")
        if who is None:
            self._error(401, "Bad credentials")
            return
        # /repositories/{id}/... is how GitHub's Link headers address a repository
        if segments[:2] == ["repositories", str(state.repository_id)]:
            segments = ["repos", *state.repository.split("/"), *segments[2:]]
        if segments == ["user"] and method == "GET":
            if token and token.startswith("ghs_"):
                self._error(
                    403, "Resource not accessible by integration", "/users/users#get-the-authenticated-user"
                )
            else:
                self._send(200, _user(who))
            return
        if segments[:3] != ["repos", *state.repository.split("/")]:
            self._error(404, "Not Found")
            return
        rest = segments[3:]
        if len(rest) == 3 and rest[0] == "issues" and rest[2] == "comments" and rest[1].isdigit():
            self._issue_comments(method, int(rest[1]), query, body, who)
        elif (
            len(rest) == 3 and rest[:2] == ["issues", "comments"] and rest[2].isdigit() and method == "PATCH"
        ):
            self._update(int(rest[2]), body, who)
        elif len(rest) == 2 and rest[0] == "environments" and method == "GET":
            self._environment(rest[1], who)
        elif rest == ["issues"] and method == "POST":
            self._create_issue(body, who)
        elif rest == ["pulls"] and method in ("GET", "POST"):
            self._pulls(method, query, body, who)
        elif (
            len(rest) == 4
            and rest[:2] == ["actions", "workflows"]
            and rest[3] == "dispatches"
            and method == "POST"
        ):
            self._dispatch_workflow(rest[2], body, who)
        else:
            self._error(404, "Not Found")

    # -- endpoints ------------------------------------------------------------------------------------------------
    def _issue_comments(
        self, method: str, number: int, query: dict[str, list[str]], body: Any, who: Token
    ) -> None:
        state = self.state
        doc = (
            "/issues/comments#list-issue-comments"
            if method == "GET"
            else "/issues/comments#create-an-issue-comment"
        )
        if number not in state.pulls:
            self._error(404, "Not Found", doc)
            return
        if method == "GET":
            if who.pull_requests is None:
                self._forbidden("issues=read; pull_requests=read", doc)
                return
            per_page = max(1, min(100, int((query.get("per_page") or ["30"])[0])))
            page = max(1, int((query.get("page") or ["1"])[0]))
            with state._lock:
                items = list(state.comments.get(number, []))
            last = max(1, -(-len(items) // per_page))
            chunk = items[(page - 1) * per_page : page * per_page]
            self._send(200, chunk, {"Link": self._links(number, per_page, page, last)} if last > 1 else None)
            return
        if method != "POST":
            self._error(404, "Not Found")
            return
        if who.pull_requests != "write":
            self._forbidden("issues=write; pull_requests=write", doc)
            return
        invalid = self._invalid_body(body, doc)
        if invalid:
            return
        with state._lock:
            created = state._create(number, body["body"], who)
        self._send(201, created, {"Location": created["url"]})

    def _invalid_body(self, body: Any, doc: str) -> bool:
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            self._send(
                422,
                {
                    "message": 'Invalid request.\n\n"body" wasn\'t supplied.',
                    "documentation_url": f"{DOCS}{doc}",
                    "status": "422",
                },
            )
            return True
        if len(body["body"]) > COMMENT_LIMIT:
            self._send(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [
                        {
                            "resource": "IssueComment",
                            "code": "custom",
                            "field": "body",
                            "message": f"body is too long (maximum is {COMMENT_LIMIT} characters)",
                        }
                    ],
                    "documentation_url": f"{DOCS}{doc}",
                    "status": "422",
                },
            )
            return True
        return False

    def _links(self, number: int, per_page: int, page: int, last: int) -> str:
        base = f"{self.state.url}/repositories/{self.state.repository_id}/issues/{number}/comments"

        def link(p: int, rel: str) -> str:
            return f'<{base}?{urlencode({"per_page": per_page, "page": p})}>; rel="{rel}"'

        links = []
        if page > 1:
            links += [link(page - 1, "prev")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first")]
        return ", ".join(links)

    def _update(self, cid: int, body: Any, who: Token) -> None:
        state = self.state
        doc = "/issues/comments#update-an-issue-comment"
        if who.pull_requests != "write":
            self._forbidden("issues=write; pull_requests=write", doc)
            return
        if self._invalid_body(body, doc):
            return
        with state._lock:
            found = next((c for cs in state.comments.values() for c in cs if c["id"] == cid), None)
            if found is not None:
                found["body"] = body["body"]
                found["updated_at"] = (EPOCH + timedelta(days=1, seconds=len(state.requests))).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                )
                found = dict(found)
        if found is None:
            self._error(404, "Not Found", doc)
            return
        self._send(200, found)

    def _environment(self, name: str, who: Token) -> None:
        doc = "/deployments/environments#get-an-environment"
        if who.actions is None:
            self._forbidden("actions=read", doc)
            return
        found = self.state.environments.get(name)
        if found is None:
            self._error(404, "Not Found", doc)
            return
        self._send(200, found)

    def _create_issue(self, body: Any, who: Token) -> None:
        """POST /repos/{owner}/{repo}/issues: 201 and the issue; 422 without a title; needs issues: write."""
        doc = "/issues/issues#create-an-issue"
        if who.pull_requests != "write":
            self._forbidden("issues=write", doc)
            return
        if not isinstance(body, dict) or not isinstance(body.get("title"), str) or not body["title"]:
            self._error(422, "Validation Failed", doc)
            return
        with self.state._lock:
            number = 100 + len(self.state.issues)
            issue = {
                "number": number,
                "title": body["title"],
                "body": body.get("body"),
                "labels": [{"name": n} for n in body.get("labels") or []],
                "state": "open",
                "html_url": f"https://github.com/{self.state.repository}/issues/{number}",
            }
            self.state.issues.append(issue)
        self._send(201, issue)

    def _pulls(self, method: str, query: dict[str, list[str]], body: Any, who: Token) -> None:
        """GET /repos/{owner}/{repo}/pulls (filters head=owner:branch, base, state) and POST (201 and the pull
        request; 422 without head, base or title, or when one is already open from head into base; needs
        pull_requests: write)."""
        state = self.state
        owner = state.repository.split("/")[0]
        if method == "GET":
            wanted = {k: v[0] for k, v in query.items() if k in ("head", "base", "state")}
            found = [
                p
                for p in state.opened
                if wanted.get("state", "open") in ("all", p["state"])
                and wanted.get("head", f"{owner}:{p['head']['ref']}") == f"{owner}:{p['head']['ref']}"
                and wanted.get("base", p["base"]["ref"]) == p["base"]["ref"]
            ]
            self._send(200, found)
            return
        doc = "/pulls/pulls#create-a-pull-request"
        if who.pull_requests != "write":
            self._forbidden("pull_requests=write", doc)
            return
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) and body[k] for k in ("head", "base", "title")
        ):
            self._error(422, "Validation Failed", doc)
            return
        with state._lock:
            head = body["head"].split(":")[-1]
            if any(
                p["head"]["ref"] == head and p["base"]["ref"] == body["base"] and p["state"] == "open"
                for p in state.opened
            ):
                self._error(422, f"A pull request already exists for {owner}:{head}.", doc)
                return
            number = 200 + len(state.opened)
            pull = {
                "number": number,
                "title": body["title"],
                "body": body.get("body"),
                "head": {"ref": head},
                "base": {"ref": body["base"]},
                "state": "open",
                "html_url": f"https://github.com/{state.repository}/pull/{number}",
            }
            state.opened.append(pull)
        self._send(201, pull)

    def _dispatch_workflow(self, workflow: str, body: Any, who: Token) -> None:
        """POST .../actions/workflows/{id}/dispatches: 204; 422 without a ref; needs actions: write."""
        doc = "/actions/workflows#create-a-workflow-dispatch-event"
        if who.actions != "write":
            self._forbidden("actions=write", doc)
            return
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str):
            self._error(422, "Invalid request: ref is required", doc)
            return
        with self.state._lock:
            self.state.dispatches.append(
                {"workflow": workflow, "ref": body["ref"], "inputs": body.get("inputs") or {}}
            )
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
