"""Kubernetes access for the delivery commands: one small client over the official ``kubernetes`` package.

- :func:`connect` builds the client from a kubeconfig (``--kubeconfig``, else every file in ``$KUBECONFIG``
  merged as kubectl merges them, else ``~/.kube/config``; optional context) or, inside a pod, from the
  in-cluster service account (:func:`kubeconfig_files`, :func:`read_kubeconfig`: the one resolution every
  command uses). The kubeconfig's contents are never printed or logged; errors name the file only.
- :meth:`Kube.request` sends JSON to a REST path through the client's TLS-configured connection pool and
  retries what is safe to retry: 429 (honouring ``Retry-After``), 500/502/503/504, timeouts and refused
  connections, with exponential backoff (``retries`` attempts, bounded). A retry cannot do anything twice:
  GET, server-side apply, merge patches and PUT with a resourceVersion are idempotent, and a create (POST)
  names its object, so a repeat whose first answer was lost meets AlreadyExists; that counts as done when the
  object on the server holds everything that was sent, and as a :class:`Conflict` otherwise.
- Errors become one-line messages that name the verb and the object: 401 and 403 (with the permission the
  server says is missing), 404, 400 / 422 (the object is invalid) are :class:`InputError` (exit 2); 409 is
  :class:`Conflict` for callers that re-read and retry; a cluster that cannot be reached after the retries
  is :class:`InfraError` (exit 3).
- :meth:`Kube.resource` maps apiVersion + kind to the REST resource by discovery, falling back to older
  API versions the server still serves (``autoscaling/v2`` to ``v2beta2``, ``policy/v1`` to ``v1beta1``) so
  the same manifests apply to Kubernetes 1.20 and to current clusters.

Functions the canary command reuses: :func:`connect`, :meth:`Kube.get`, :meth:`Kube.list`,
:meth:`Kube.apply` (server-side apply), :meth:`Kube.patch` (merge or strategic-merge patch),
:meth:`Kube.put`, :meth:`Kube.delete`, :meth:`Kube.object_path`.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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
            except _Unreachable as exc:
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


class _Unreachable(Exception):
    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


# ----------------------------------------------------------------------------------------- kubeconfig
@dataclass(frozen=True)
class Kubeconfig:
    """The kubeconfig files to read, chosen as kubectl chooses them, and what :func:`read_kubeconfig` found."""

    source: str  # how messages name it: the file(s), never their contents
    paths: tuple[Path, ...] = ()  # existing files, in order; empty for the in-cluster service account
    context: str | None = None  # the context in use (set by read_kubeconfig)
    namespace: str | None = None  # that context's namespace, if it sets one

    @property
    def in_cluster(self) -> bool:
        return not self.paths


IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def kubeconfig_files(kubeconfig: str | os.PathLike | None = None) -> Kubeconfig:
    """``--kubeconfig`` (one file), else every existing file in ``$KUBECONFIG`` (a list separated by ``:``,
    missing ones skipped, as kubectl does), else ``~/.kube/config``, else the in-cluster service account.

    The one resolution every command uses (deploy, rollback and canary alike)."""
    env_paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    default = Path("~/.kube/config").expanduser()
    if kubeconfig is not None and str(kubeconfig):
        path = Path(kubeconfig).expanduser()
        if not path.is_file():
            raise InputError(f"kubeconfig {kubeconfig}: file not found")
        return Kubeconfig(f"kubeconfig {kubeconfig}", (path,))
    if env_paths:
        found = tuple(Path(p).expanduser() for p in env_paths if Path(p).expanduser().is_file())
        if not found:
            raise InputError(f"kubeconfig from $KUBECONFIG: no file at {os.pathsep.join(env_paths)}")
        label = (
            f"kubeconfig {found[0]}"
            if len(found) == 1
            else f"kubeconfig {os.pathsep.join(map(str, found))} (from $KUBECONFIG)"
        )
        return Kubeconfig(label, found)
    if default.is_file():
        return Kubeconfig(f"kubeconfig {default}", (default,))
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return Kubeconfig("in-cluster service account")
    raise InputError(
        "no Kubernetes credentials: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, "
        "or run inside a cluster"
    )


def _parse_kubeconfig(path: Path) -> dict[str, Any]:
    """One file, checked for shape. Messages name the file and a position, never a line of it."""
    import yaml

    from gates.core import yamlsafe

    try:
        data = yamlsafe.load(path.read_bytes())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        if isinstance(exc, yaml.reader.ReaderError):
            where = f" (byte {exc.position}: not UTF-8 or UTF-16 text)"
        raise InputError(f"kubeconfig {path}: not valid YAML{where}") from None
    except OSError as exc:
        raise InputError(
            f"kubeconfig {path}: cannot be read ({exc.strerror or type(exc).__name__})"
        ) from None
    if data is None:
        raise InputError(f"kubeconfig {path}: the file is empty")
    if not isinstance(data, dict):
        raise InputError(
            f"kubeconfig {path}: not a kubeconfig (expected a mapping with clusters, contexts and "
            f"users, found a {_yaml_type(data)})"
        )
    for key, inner in (("clusters", "cluster"), ("contexts", "context"), ("users", "user")):
        entries = data.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise InputError(f"kubeconfig {path}: '{key}' must be a list, found a {_yaml_type(entries)}")
        for number, entry in enumerate(entries, start=1):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
                raise InputError(f"kubeconfig {path}: '{key}' entry {number} has no name")
            if not isinstance(entry.get(inner), dict):
                raise InputError(f"kubeconfig {path}: {inner} {entry['name']!r} has no '{inner}' mapping")
    current = data.get("current-context")
    if current is not None and not isinstance(current, str):
        raise InputError(f"kubeconfig {path}: 'current-context' must be a context name")
    return data


def _yaml_type(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def read_kubeconfig(files: Kubeconfig, context: str | None = None) -> Kubeconfig:
    """Parse and check the files, merged as kubectl merges them: the first file that sets current-context
    wins, and so does the first file that defines a cluster, context or user of a given name. Returns
    ``files`` with the context in use and its namespace; a malformed file, no current-context, or a
    context whose cluster or user is not defined is a one-line :class:`InputError` naming the file(s)."""
    if files.in_cluster:
        namespace = None
        try:
            namespace = IN_CLUSTER_NAMESPACE.read_text().strip() or None
        except OSError:
            pass
        return Kubeconfig(files.source, files.paths, context, namespace)
    current: str | None = None
    merged: dict[str, dict[str, dict[str, Any]]] = {"clusters": {}, "contexts": {}, "users": {}}
    for path in files.paths:
        data = _parse_kubeconfig(path)
        current = current or data.get("current-context") or None
        for key, entries in merged.items():
            for entry in data.get(key) or []:
                entries.setdefault(entry["name"], entry)
    name = context or current
    known = ", ".join(merged["contexts"]) or "none"
    if not name:
        raise InputError(f"{files.source}: no current-context is set; pass --context (contexts: {known})")
    entry = merged["contexts"].get(name)
    if entry is None:
        raise InputError(f"{files.source}: context {name!r} not found (contexts: {known})")
    spec = entry["context"]
    cluster = spec.get("cluster")
    if not cluster:
        raise InputError(f"{files.source}: context {name!r} names no cluster")
    if cluster not in merged["clusters"]:
        raise InputError(f"{files.source}: context {name!r} names cluster {cluster!r}, which is not defined")
    if not merged["clusters"][cluster]["cluster"].get("server"):
        raise InputError(f"{files.source}: cluster {cluster!r} has no server")
    user = spec.get("user")
    if user and user not in merged["users"]:
        raise InputError(f"{files.source}: context {name!r} names user {user!r}, which is not defined")
    namespace = spec.get("namespace") if isinstance(spec.get("namespace"), str) else None
    return Kubeconfig(files.source, files.paths, name, namespace or None)


def default_namespace(kubeconfig: str | os.PathLike | None = None, context: str | None = None) -> str:
    """The namespace of the context in use (or of the service account in a pod), else ``default``."""
    return read_kubeconfig(kubeconfig_files(kubeconfig), context).namespace or "default"


# ----------------------------------------------------------------------------------------- connect
def connect(
    kubeconfig: str | os.PathLike | None = None,
    context: str | None = None,
    *,
    retries: int = 5,
    timeout: tuple[float, float] = (5.0, 30.0),
) -> Kube:
    """A :class:`Kube` from a kubeconfig (see :func:`kubeconfig_files`) or the in-cluster service account."""
    try:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException
    except ImportError:
        raise InputError("the 'kubernetes' package is not installed: pip install 'mlgate[deploy]'") from None
    import yaml

    configuration = client.Configuration()
    files = read_kubeconfig(kubeconfig_files(kubeconfig), context)
    source = files.source
    try:
        if files.in_cluster:
            config.load_incluster_config(client_configuration=configuration)
        else:
            # Always name the files (the client reads $KUBECONFIG once, when it is first imported) and the
            # context: the client's own merge lets the last file's current-context win, kubectl the first.
            config.load_kube_config(
                config_file=os.pathsep.join(map(str, files.paths)),
                context=files.context,
                client_configuration=configuration,
                persist_config=False,
            )
    except ConfigException as exc:
        # The loader's messages name keys, not secrets; keep only the first line to be safe.
        raise InputError(
            f"{source}: {str(exc).splitlines()[0] if str(exc) else 'invalid configuration'}"
        ) from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError) as exc:
        raise InputError(f"{source}: cannot be loaded ({type(exc).__name__})") from None
    api_client = client.ApiClient(configuration)
    return Kube(
        host=configuration.host,
        send=_urllib3_sender(api_client, configuration),
        retries=retries,
        timeout=timeout,
        source=source,
        namespace=files.namespace,
    )


def _urllib3_sender(api_client: Any, configuration: Any):
    import urllib3

    pool = api_client.rest_client.pool_manager

    def send(
        method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: tuple[float, float]
    ) -> tuple[int, dict[str, str], bytes]:
        headers = dict(headers)
        # auth_settings() refreshes exec-plugin and expiring tokens, whatever the client's version calls the key
        for setting in (configuration.auth_settings() or {}).values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        if (
            "authorization" not in {k.lower() for k in headers}
            and configuration.username
            and configuration.password
        ):
            headers["Authorization"] = urllib3.util.make_headers(
                basic_auth=f"{configuration.username}:{configuration.password}"
            )["authorization"]
        try:
            response = pool.request(
                method,
                url,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
                preload_content=True,
            )
        except urllib3.exceptions.SSLError as exc:
            raise _Unreachable(
                f"TLS error talking to {configuration.host}: {_short(exc)}", permanent=True
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            raise _Unreachable(f"cannot reach {configuration.host}: {_short(exc)}") from None
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.data or b""

    return send


def _short(exc: Exception) -> str:
    text = str(exc)
    reason = getattr(exc, "reason", None)
    if reason is not None:
        text = str(reason)
    return text.split("\n")[0][:200]
