"""Cluster DNS and a Service proxy for FakeNode pods: what kube-dns and kube-proxy give pods on a real node.

Why: FakeNode pods are local processes on 127.0.X.Y. Nothing routes a Service's ClusterIP and no DNS server
answers ``<service>.<namespace>.svc.cluster.local``, so a pod that calls another Service by name (the example
service's shadow tee posts to the candidate's Service) reaches nothing. ServiceNet gives every Service of one
namespace (with a ClusterIP) an address 127.10.X.Y, listens there on each Service port and forwards each
connection to a ready pod its selector matches (round robin, one pod per connection, as kube-proxy does);
a Service with no ready pod refuses the connection. The names are published in a hosts file, and
:func:`with_cluster_dns` makes a catalog entry resolve ``*.svc`` / ``*.svc.cluster.local`` names from it.

    net = ServiceNet(api_client, "ns", tmp / "hosts").start()
    images = {"example/web:v1": with_cluster_dns(service_image("v1"), net.hosts)}
    ...
    net.close()

Local harness only: on a real cluster (``kube.real``) the cluster's own DNS and proxy do this.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import itertools
import json
import os
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_ADDRESSES = (f"127.10.{x}.{y}" for x in range(255) for y in range(1, 255))  # process-wide, never reused
_ADDRESS_LOCK = threading.Lock()


def _next_address() -> str:
    with _ADDRESS_LOCK:
        return next(_ADDRESSES)


def with_cluster_dns(argv: Sequence[str], hosts: Path) -> list[str]:
    """The catalog entry ``[python, "-c", code]`` with Service names resolved from ``hosts`` first
    (:func:`resolve_services`), before ``code`` runs."""
    if len(argv) != 3 or argv[1] != "-c":
        raise ValueError(f"expected [python, '-c', code], got {list(argv)[:2]}")
    prelude = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
        f"from tests.cluster.servicenet import resolve_services; resolve_services({str(hosts)!r})\n"
    )
    return [argv[0], "-c", prelude + argv[2]]


def resolve_services(hosts: str) -> None:
    """In a pod's process: ``*.svc`` and ``*.svc.cluster.local`` names resolve from the hosts file (read at
    each lookup, so Services created later resolve), others as before; a Service name missing there fails as
    an unknown name does. ``socket.getaddrinfo`` is what asyncio, urllib and http.client resolve with."""
    resolve = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = (host.decode() if isinstance(host, bytes) else host or "").rstrip(".")
        if name.endswith((".svc", ".svc.cluster.local")):
            for line in Path(hosts).read_text().splitlines():
                ip, *names = line.split()
                if name in names:
                    return resolve(ip, *args, **kwargs)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


class ServiceNet:
    """DNS names and forwarding for the Services of one namespace, refreshed from the API every 0.5 s."""

    def __init__(self, api_client: Any, namespace: str, hosts: Path):
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)
        self.namespace, self.hosts = namespace, Path(hosts)
        self.hosts.write_text("")
        self.addresses: dict[str, str] = {}  # Service name -> its 127.10.X.Y
        self.endpoints: dict[tuple[str, int], list[tuple[str, int]]] = {}  # (Service, port) -> pod addresses
        self.sync_error = ""
        self._servers: dict[tuple[str, int], asyncio.base_events.Server] = {}
        self._turn = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.new_event_loop()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop.run_forever, daemon=True),
            threading.Thread(target=self._sync_loop, daemon=True),
        ]

    def start(self) -> ServiceNet:
        for thread in self._threads:
            thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._threads[0].ident is None:  # never started (a set-up that failed before)
            return
        self._threads[1].join(5)
        with contextlib.suppress(Exception):  # bounded: a connection still open is cut
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._threads[0].join(5)
        if not self._loop.is_running():
            self._loop.close()

    async def _shutdown(self) -> None:
        for server in self._servers.values():
            server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def post(self, service: str, port: int, path: str, body: dict, timeout: float = 5.0) -> tuple[int, dict]:
        """One request to a Service as a pod makes it (a new connection each time, so each may land on
        another pod): the status and the JSON answer."""
        conn = http.client.HTTPConnection(self.addresses[service], port, timeout=timeout)
        try:
            conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            conn.close()

    # .. refresh
    def _sync_loop(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self._sync()
            except Exception as exc:  # noqa: BLE001 - the next round retries; a test that waits says why
                self.sync_error = f"{type(exc).__name__}: {exc}"

    def _sync(self) -> None:
        services = [s for s in self.core.list_namespaced_service(self.namespace).items if s.spec.selector]
        pods = [
            p
            for p in self.core.list_namespaced_pod(self.namespace).items
            if p.status.pod_ip
            and not p.metadata.deletion_timestamp
            and p.status.phase == "Running"
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        ]
        endpoints: dict[tuple[str, int], list[tuple[str, int]]] = {}
        for svc in services:
            name = svc.metadata.name
            self.addresses.setdefault(name, _next_address())
            chosen = [
                p
                for p in pods
                if all((p.metadata.labels or {}).get(k) == v for k, v in svc.spec.selector.items())
            ]
            for port in svc.spec.ports or []:
                endpoints[(name, port.port)] = [(p.status.pod_ip, _target_port(p, port)) for p in chosen]
        self.endpoints = endpoints
        for key in set(endpoints) - set(self._servers):
            future = asyncio.run_coroutine_threadsafe(self._listen(key), self._loop)
            self._servers[key] = future.result(5)
        for key in set(self._servers) - set(endpoints):
            self._loop.call_soon_threadsafe(self._servers.pop(key).close)
        lines = [
            f"{self.addresses[s.metadata.name]} {s.metadata.name}.{self.namespace}.svc "
            f"{s.metadata.name}.{self.namespace}.svc.cluster.local\n"
            for s in services
        ]
        tmp = self.hosts.with_suffix(".tmp")
        tmp.write_text("".join(lines))
        os.replace(tmp, self.hosts)  # atomic: a pod never reads half a table

    # .. forwarding
    async def _listen(self, key: tuple[str, int]) -> asyncio.base_events.Server:
        return await asyncio.start_server(
            lambda r, w: self._forward(key, r, w), self.addresses[key[0]], key[1], reuse_address=True
        )

    async def _forward(
        self, key: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(
            task
        )  # asyncio holds tasks weakly: one waiting on a dropped connection would be collected
        try:
            await self._exchange(key, reader, writer)
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _exchange(
        self, key: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        ready = self.endpoints.get(key) or []
        if not ready:  # no ready pod: the connection is refused (closed at once)
            return
        host, port = ready[next(self._turn) % len(ready)]
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        except (OSError, asyncio.TimeoutError):
            return
        # the exchange ends when the pod closes its side (HTTP: after the answer); the client's side is cut then
        upstream = asyncio.ensure_future(_pump(reader, up_writer))
        try:
            await _pump(up_reader, writer)
        finally:
            upstream.cancel()
            up_writer.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


def _target_port(pod: Any, port: Any) -> int:
    """The Service port's targetPort on this pod: a number, or a container port's name (else the port)."""
    target = port.target_port if port.target_port is not None else port.port
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in pod.spec.containers or []:
        for cp in container.ports or []:
            if cp.name == target:
                return int(cp.container_port)
    return int(port.port)
