"""Delivery: render manifests, apply them, follow rollouts, roll back, validate a live endpoint, run canaries.

Modules (imported only by the commands that use them, so `mlgate --help` never loads the kubernetes client):

- ``render``: manifests rendered by ``kubectl kustomize`` (kustomize v5; ``render(paths, images, namespace)``,
  overrides laid on by a wrapping kustomization), the local structural checks (``check_objects``).
- ``kube``: cluster access (``connect``; ``Kube.get / list / apply / patch / put / delete``) with retries and
  one-line errors.
- ``apply``: server-side apply of a set of objects, dry run first (``apply_objects``).
- ``rollout``: rollout state and waiting (``rollout_state``, ``wait_for_rollout``), ``kubectl rollout undo``
  (``rollback``), ReplicaSet history (``replica_sets``, ``revisions``), why pods are not ready (``pod_problems``).
- ``validate``: post-deploy validation of a live endpoint (``collect`` over HTTP, ``evaluate`` pure).
- the canary command:
  - ``canary``: the progressive-delivery loop (``run_canary``: steps, analyses, promotion, rollback);
  - ``canary/``: the canary (config, state in annotations, cluster calls, measurement, decision, the loop, the
    report);
  - ``evidence``: request-level evidence and its tests (counts and histograms over a window: Clopper-Pearson,
    order-statistic quantile bounds, the rank test on binned values, the KS distance with DKW bounds);
  - ``sequential``: the default, anytime-valid judge (mixture likelihood ratios on counts, canary against
    stable; gates.stats.sequential holds the math);
  - ``judges``: the threshold (Flagger-like) and compare (Kayenta-like) judges;
  - ``queries``: PromQL templates and the metric definitions built from them (``MetricSpec``, ``metric_specs``);
  - ``prometheus``: the Prometheus HTTP API client (retries, no data, credentials from the environment);
  - ``routers``: traffic weights (``replicas``, ``gateway_api``, ``nginx``).
"""
