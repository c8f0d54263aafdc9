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

The client is :mod:`gates.deploy.kube_client`; the kubeconfig resolution and :func:`connect` are in
:mod:`gates.deploy.kube_connect`. This module is where callers import them from.
"""

from gates.deploy.kube_client import (
    APPLY_PATCH,
    FIELD_MANAGER,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    Conflict,
    Kube,
    NotFound,
    Resource,
    Unreachable,
    describe,
)
from gates.deploy.kube_connect import (
    Kubeconfig,
    connect,
    default_namespace,
    kubeconfig_files,
    read_kubeconfig,
)

__all__ = [
    "APPLY_PATCH",
    "FIELD_MANAGER",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_PATCH",
    "Conflict",
    "Kube",
    "Kubeconfig",
    "NotFound",
    "Resource",
    "Unreachable",
    "connect",
    "default_namespace",
    "describe",
    "kubeconfig_files",
    "read_kubeconfig",
]
