"""Security gate: vulnerability reports, model artifacts, Kubernetes manifests, Dockerfiles and image configs.

Each concern is one module with a pure function (parsed data in, findings out) and a `check(section, ctx, levels)`
used by `gates.security.gate.run`. `gates.security.artifacts.require_safe_artifact` is the one function the rest of
mlgate calls before it loads a pickle-based model.
"""
