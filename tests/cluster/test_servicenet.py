"""The fake node's cluster DNS (tests/cluster/servicenet.py) in a pod's process: Service names resolve from the
hosts table, an unknown Service name fails as an unknown name does, other names resolve as before."""

from __future__ import annotations

import subprocess
import sys

from tests.cluster.servicenet import with_cluster_dns

PROBE = (
    "import socket\n"
    "for name in ('model-shadow.ns.svc.cluster.local', 'model.ns.svc', 'localhost', 'gone.ns.svc.cluster.local'):\n"
    "    try:\n"
    "        print(name, socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])\n"
    "    except socket.gaierror:\n"
    "        print(name, 'unknown')\n"
)


def test_service_names_resolve_from_the_hosts_table(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text(
        "127.10.0.7 model-shadow.ns.svc model-shadow.ns.svc.cluster.local\n"
        "127.10.0.8 model.ns.svc model.ns.svc.cluster.local\n"
    )
    argv = with_cluster_dns([sys.executable, "-c", PROBE], hosts)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout.split("\n")
    assert out[:4] == [
        "model-shadow.ns.svc.cluster.local 127.10.0.7",
        "model.ns.svc 127.10.0.8",
        "localhost 127.0.0.1",
        "gone.ns.svc.cluster.local unknown",
    ]
