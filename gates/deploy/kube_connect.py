"""How the delivery commands reach a cluster: the kubeconfig resolved as kubectl resolves it (``--kubeconfig``, else
every file in ``$KUBECONFIG`` merged, else ``~/.kube/config``; or the in-cluster service account) and
:func:`connect`, which builds a :class:`~gates.deploy.kube_client.Kube` over the official ``kubernetes`` package.
The kubeconfig's contents are never printed or logged; errors name the file only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gates.core.errors import InputError
from gates.deploy.kube_client import Kube, Unreachable


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
            raise Unreachable(
                f"TLS error talking to {configuration.host}: {_short(exc)}", permanent=True
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            raise Unreachable(f"cannot reach {configuration.host}: {_short(exc)}") from None
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.data or b""

    return send


def _short(exc: Exception) -> str:
    text = str(exc)
    reason = getattr(exc, "reason", None)
    if reason is not None:
        text = str(reason)
    return text.split("\n")[0][:200]
