"""The canary: a new image beside the stable Deployment, traffic moved to it step by step, each step analysed on
Prometheus (canary against stable over the same window, and against absolute limits), then promoted or rolled
back. One job per module:

- ``config``: the policy's ``canary`` section, typed, and the Deployments derived from it;
- ``state``: the state kept in annotations on the canary Deployment, and what a re-run does with it;
- ``cluster``: the Kubernetes calls, behind one small class; ``stop``: clean stops on SIGTERM;
- ``measurement``: what one analysis queries (counts and histogram buckets for both tracks);
- ``decision``: the judges over those observations, one outcome;
- ``machine``: the loop (weights, waits, analyses, promote, roll back) and ``run_canary``;
- ``report``: the run as a GateResult.
"""

from gates.deploy.canary.cluster import Cluster
from gates.deploy.canary.config import CanaryConfig
from gates.deploy.canary.machine import Run, run_canary
from gates.deploy.canary.stop import Interrupted, Stop

__all__ = ["CanaryConfig", "Cluster", "Interrupted", "Run", "Stop", "run_canary"]
