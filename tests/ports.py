"""Free TCP ports on 127.0.0.1 for servers the tests start.

A port the kernel hands out for ``bind(0)`` comes from the ephemeral range, the same range outgoing connections
draw from; between probing it and the server binding it, any connection on the machine (the tests' own load
generators make thousands) can take it. Ports below that range are never taken by outgoing connections, so they are
picked from there at random, and never handed out twice by this process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_given: set[int] = set()
_LOWEST = 20000


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now and that no outgoing connection will take (bounded: 200 tries)."""
    top = _ephemeral_start()
    if top - _LOWEST > 1000:
        for _ in range(200):
            port = random.randrange(_LOWEST, top)
            if port not in _given and _bindable(host, port):
                _given.add(port)
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # odd port ranges: let the kernel pick
        s.bind((host, 0))
        return s.getsockname()[1]
