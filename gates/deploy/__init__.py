"""Delivery: render manifests, apply them, follow rollouts, roll back, validate a live endpoint, run canaries.

Modules (imported only by the commands that use them, so `mlgate --help` never loads the kubernetes client):

- ``render``: the built-in kustomize subset (``render(path, images, namespace, renderer)``).
- ``kube``: cluster access (``connect``; ``Kube.get / list / apply / patch / put / delete``) with retries and
  one-line errors.
- ``apply``: server-side apply of a set of objects, dry run first (``apply_objects``).
- ``rollout``: rollout state and waiting (``rollout_state``, ``wait_for_rollout``), ``kubectl rollout undo``
  (``rollback``), ReplicaSet history (``replica_sets``, ``revisions``), why pods are not ready (``pod_problems``).
- ``validate``: post-deploy validation of a live endpoint (``collect`` over HTTP, ``evaluate`` pure).
- ``canary*``, ``analysis*``, ``judges*``, ``routers*``, ``prometheus*``, ``queries``: the canary command.
"""
