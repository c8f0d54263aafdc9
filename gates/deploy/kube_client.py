"""The Kubernetes client the delivery commands share: REST requests with safe retries, one-line errors, and the
resource operations (get, list, server-side apply, patch, put, delete) on objects found by discovery.

:func:`gates.deploy.kube_connect.connect` builds a :class:`Kube`; how it sends and retries, and why a retry
cannot do anything twice, is described in :mod:`gates.deploy.kube`.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from gates.core.errors import InfraError, InputError

FIELD_MANAGER = "mlgate"
RETRY_STATUSES = {429, 500, 502, 503, 504}
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"

# Older API versions the same objects can be sent as, newest first (the fields mlgate's manifests use
# are identical in these versions).
VERSION_FALLBACKS: dict[tuple[str, str], tuple[str, ...]] = {
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ("autoscaling/v2beta2",),
    ("policy/v1", "PodDisruptionBudget"): ("policy/v1beta1",),
    ("discovery.k8s.io/v1", "EndpointSlice"): ("discovery.k8s.io/v1beta1",),  # addresses and conditions alike
}

VERBS = {"GET": "get", "PATCH": "patch", "PUT": "update", "DELETE": "delete", "POST": "create"}


class NotFound(InputError):
    """The object (or its namespace, or the API) does not exist."""


class Conflict(InputError):
    """409: the object changed since it was read (or already exists); re-read and try again."""


@dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def group(self) -> str:
        return self.api_version.rsplit("/", 1)[0] if "/" in self.api_version else ""

    def describe(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


@dataclass
class Kube:
    """A connection to one cluster. Build it with :func:`connect`; tests may pass their own ``send``."""

    host: str
    send: Callable[
        [str, str, dict[str, str], bytes | None, tuple[float, float]], tuple[int, dict[str, str], bytes]
    ]
    retries: int = 5
    backoff: float = 0.5
    max_backoff: float = 8.0
    timeout: tuple[float, float] = (5.0, 30.0)
    sleep: Callable[[float], None] = time.sleep
    source: str = "kubeconfig"
    namespace: str | None = None  # the kubeconfig context's namespace (or the service account's), if any
    _discovery: dict[str, dict[str, Any] | None] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------------------- raw requests
    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        what: str | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> Any:
        """Send one request (with retries); return the decoded JSON body (None when empty)."""
        what = what or path
        url = self.host.rstrip("/") + path + ("?" + urlencode(query, doseq=True) if query else "")
        headers = {"Accept": "application/json"}
        data: bytes | None = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        attempts = max(1, self.retries)
        # A create (POST) is not idempotent: after an attempt the server may have carried out (a timeout, a
        # dropped connection, a 5xx) it is retried only when it names its object, so a repeat meets
        # AlreadyExists and is settled by _created_before; one with only generateName is never repeated.
        sent = _sent_object(body) if method == "POST" else None
        may_repeat = method != "POST" or bool((sent or {}).get("metadata", {}).get("name"))
        maybe_done = False  # an earlier attempt may have reached the server and been carried out
        last = ""
        for attempt in range(attempts):
            try:
                status, response_headers, payload = self.send(
                    method, url, headers, data, timeout or self.timeout
                )
            except Unreachable as exc:
                last = str(exc)
                if exc.permanent:
                    raise InfraError(f"{VERBS.get(method, method)} {what}: {last}") from None
                maybe_done = True
                if not may_repeat:
                    break
                self._pause(attempt, attempts, None)
                continue
            if 200 <= status < 300:
                return json.loads(payload) if payload.strip() else None
            if status == 409 and maybe_done and sent is not None and _reason(payload) == "AlreadyExists":
                return self._created_before(path, sent, what)
            if status in RETRY_STATUSES and attempt + 1 < attempts and (may_repeat or status == 429):
                last = f"HTTP {status}: {_server_message(payload)}"
                maybe_done = maybe_done or status != 429  # 429 is refused before anything is done
                self._pause(attempt, attempts, response_headers.get("retry-after"))
                continue
            raise self._error(method, status, payload, what)
        if not may_repeat:
            raise InfraError(
                f"{VERBS.get(method, method)} {what}: {last}; not repeated, as the object has no "
                "fixed name and a repeat could create it twice"
            )
        raise InfraError(
            f"{VERBS.get(method, method)} {what}: the cluster at {self.host} did not answer after "
            f"{attempts} attempts ({last})"
        )

    def _created_before(self, path: str, sent: dict[str, Any], what: str) -> Any:
        """A repeated create met AlreadyExists: the first attempt's answer was lost, or someone else created the
        object. It is ours (success) when the object on the server holds every field that was sent; server
        defaults may add fields, but a different image, label or annotation means another writer."""
        name = sent["metadata"]["name"]
        live = self.request("GET", path.rstrip("/") + "/" + quote(name, safe=""), what=what)
        mine = {k: v for k, v in sent.items() if k not in ("apiVersion", "kind", "status")}
        mine["metadata"] = {k: v for k, v in sent["metadata"].items() if k not in SERVER_SET_METADATA}
        if _holds(live, mine):
            return live
        raise Conflict(
            f"create {what}: {name} already exists (409) and differs from what was sent, so another "
            "writer created it"
        )

    def _pause(self, attempt: int, attempts: int, retry_after: str | None) -> None:
        if attempt + 1 >= attempts:
            return
        delay = min(self.max_backoff, self.backoff * (2**attempt)) * (0.8 + 0.4 * random.random())
        if retry_after and retry_after.strip().isdigit():
            delay = min(self.max_backoff, max(delay, float(retry_after)))
        self.sleep(delay)

    def _error(self, method: str, status: int, payload: bytes, what: str) -> Exception:
        verb = VERBS.get(method, method.lower())
        message = _server_message(payload)
        if status == 401:
            return InputError(
                f"{verb} {what}: the cluster rejected the credentials from the {self.source} "
                "(401 Unauthorized); check its user entry or token"
            )
        if status == 403:
            return InputError(
                f"{verb} {what}: forbidden (403): {message}. Grant the '{verb}' permission on it "
                "(RBAC Role or ClusterRole) to the user mlgate runs as"
            )
        if status == 404:
            return NotFound(f"{verb} {what}: not found (404): {message}")
        if status == 409:
            return Conflict(f"{verb} {what}: conflict (409): {message}")
        if status in (400, 422):
            return InputError(f"{verb} {what}: rejected as invalid ({status}): {message}")
        if status in RETRY_STATUSES:
            return InfraError(
                f"{verb} {what}: the cluster answered {status} after {self.retries} attempts: {message}"
            )
        return InfraError(f"{verb} {what}: unexpected answer {status}: {message}")

    # ------------------------------------------------------------------------------- discovery
    def _group_version(self, api_version: str) -> dict[str, Any] | None:
        if api_version not in self._discovery:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            try:
                self._discovery[api_version] = self.request("GET", path, what=f"API {api_version}")
            except NotFound:
                self._discovery[api_version] = None
        return self._discovery[api_version]

    def resource(self, api_version: str, kind: str) -> Resource:
        """The REST resource for apiVersion + kind, or an older version the server serves (see module doc)."""
        for candidate in (api_version, *VERSION_FALLBACKS.get((api_version, kind), ())):
            listing = self._group_version(candidate)
            for entry in (listing or {}).get("resources", []):
                if entry.get("kind") == kind and "/" not in entry.get("name", ""):
                    return Resource(candidate, kind, entry["name"], bool(entry.get("namespaced")))
        tried = ", ".join((api_version, *VERSION_FALLBACKS.get((api_version, kind), ())))
        raise InputError(f"{kind}: the cluster serves no such kind in {tried}")

    def object_path(
        self,
        resource: Resource,
        name: str | None = None,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> str:
        base = f"/api/{resource.api_version}" if not resource.group else f"/apis/{resource.api_version}"
        if resource.namespaced:
            if not namespace:
                raise InputError(f"{resource.kind} {name}: a namespace is required")
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{resource.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        if subresource:
            base += f"/{subresource}"
        return base

    # ------------------------------------------------------------------------------- verbs
    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        resource = self.resource(api_version, kind)
        try:
            return self.request(
                "GET", self.object_path(resource, name, namespace), what=describe(kind, name, namespace)
            )
        except NotFound:
            return None

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        resource = self.resource(api_version, kind)
        query = {"labelSelector": label_selector} if label_selector else None
        data = self.request(
            "GET",
            self.object_path(resource, None, namespace),
            query=query,
            what=f"{resource.describe()} in namespace {namespace}" if namespace else resource.describe(),
        )
        return list((data or {}).get("items") or [])

    def apply(
        self,
        obj: dict[str, Any],
        field_manager: str = FIELD_MANAGER,
        force: bool = True,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply of one object (sent as the newest API version the server serves)."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        body = dict(obj, apiVersion=resource.api_version)
        meta = obj.get("metadata") or {}
        query: dict[str, Any] = {"fieldManager": field_manager, "force": "true" if force else "false"}
        if dry_run:
            query["dryRun"] = "All"
        return self.request(
            "PATCH",
            self.object_path(resource, meta["name"], meta.get("namespace")),
            query=query,
            body=json.dumps(body).encode("utf-8"),
            content_type=APPLY_PATCH,
            what=describe(obj["kind"], meta["name"], meta.get("namespace")),
        )

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        patch: Any,
        content_type: str = MERGE_PATCH,
        field_manager: str = FIELD_MANAGER,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        resource = self.resource(api_version, kind)
        return self.request(
            "PATCH",
            self.object_path(resource, name, namespace, subresource),
            query={"fieldManager": field_manager},
            body=patch,
            content_type=content_type,
            what=describe(kind, name, namespace),
        )

    def put(self, obj: dict[str, Any], field_manager: str = FIELD_MANAGER) -> dict[str, Any]:
        """Replace an object; it must carry metadata.resourceVersion, so a concurrent change is a Conflict."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        return self.request(
            "PUT",
            self.object_path(resource, meta["name"], meta.get("namespace")),
            query={"fieldManager": field_manager},
            body=obj,
            what=describe(obj["kind"], meta["name"], meta.get("namespace")),
        )

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete an object (foreground propagation); False when it was already gone."""
        resource = self.resource(api_version, kind)
        try:
            self.request(
                "DELETE",
                self.object_path(resource, name, namespace),
                body={"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground"},
                what=describe(kind, name, namespace),
            )
        except NotFound:
            return False
        return True

    def server_version(self) -> str:
        data = self.request("GET", "/version", what="the server version")
        return str((data or {}).get("gitVersion") or "unknown")


def describe(kind: str, name: str | None, namespace: str | None = None) -> str:
    text = f"{kind.lower()}/{name}" if name else kind
    return text + (f" in namespace {namespace}" if namespace else "")


def _sent_object(body: Any) -> dict[str, Any] | None:
    if isinstance(body, bytes):
        try:
            body = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None
    return body if isinstance(body, dict) and isinstance(body.get("metadata"), dict) else None


def _reason(payload: bytes) -> str | None:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return data.get("reason") if isinstance(data, dict) else None


SERVER_SET_METADATA = (
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
)


def _holds(live: Any, sent: Any) -> bool:
    """Whether ``live`` holds every field of ``sent``: lists element by element, and a null or empty value
    sent matching an absent one (the server omits them)."""
    if sent is None or sent == {} or sent == []:
        return live in (None, {}, []) or live == sent
    if isinstance(sent, dict):
        return isinstance(live, dict) and all(_holds(live.get(k), v) for k, v in sent.items())
    if isinstance(sent, list):
        return isinstance(live, list) and len(live) == len(sent) and all(map(_holds, live, sent))
    return live == sent


def _server_message(payload: bytes) -> str:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        text = payload.decode("utf-8", "replace").strip()
        return text[:300] or "no message"
    if isinstance(data, dict):
        return str(data.get("message") or data.get("reason") or data)[:500]
    return str(data)[:300]


class Unreachable(Exception):
    """The sender could not reach the server (``permanent``: retrying cannot help, e.g. a TLS error)."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent
