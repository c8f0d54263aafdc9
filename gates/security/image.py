"""Image configuration policy: user, health check, exposed ports, secrets in the environment, size budget.

Exposed ports: with `allowed_ports` every other port fails; without it only SSH (22) and the Docker API
(2375, 2376) fail, so set `allowed_ports` to check the rest.

Two sources, same checks:
- a `docker save` tarball (docker-archive with manifest.json, or an OCI layout with index.json), read with no
  engine at all;
- a Docker-compatible engine through the `docker` package (Docker, or podman's `podman system service`).
  Engines that answer inspect with the OCI image config (podman does) omit HEALTHCHECK even when the image has
  one; the check then reads the config from the engine's export of the image before it reports a missing one.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gates.core.context import GateContext
from gates.core.errors import InfraError, InputError
from gates.core.settings.security import Image
from gates.security import secrets
from gates.security.common import Part, RuleHit, rule_checks

CATEGORY = "image"
_SMALL = 8 << 20
_BUILD_ARGS = re.compile(r"^\|(\d+)\s+(.*)$", re.DOTALL)


@dataclass
class ImageConfig:
    ref: str
    source: str  # "archive PATH" or "engine URL"
    user: str = ""
    healthcheck: dict[str, Any] | None = None
    exposed_ports: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    size: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "source": self.source,
            "user": self.user,
            "healthcheck": self.healthcheck,
            "exposed_ports": self.exposed_ports,
            "env_names": [e.partition("=")[0] for e in self.env],
            "size_bytes": self.size,
            "notes": self.notes,
        }


def _from_config_json(data: dict[str, Any], ref: str, source: str, size: int | None) -> ImageConfig:
    cfg = data.get("config") or data.get("Config") or {}
    return ImageConfig(
        ref=ref,
        source=source,
        user=str(cfg.get("User") or ""),
        healthcheck=cfg.get("Healthcheck") or None,
        exposed_ports=sorted((cfg.get("ExposedPorts") or {}).keys()),
        env=list(cfg.get("Env") or []),
        history=[str(h.get("created_by") or "") for h in data.get("history") or [] if isinstance(h, dict)],
        size=size,
    )


# --- docker save / OCI archives --------------------------------------------------------------------------------


def _members(tar: tarfile.TarFile) -> tuple[dict[str, bytes], dict[str, int]]:
    """Small members' bytes (manifests and configs) and every member's size, in one pass (streams work too)."""
    small: dict[str, bytes] = {}
    sizes: dict[str, int] = {}
    for member in tar:
        if not member.isfile():
            continue
        name = member.name.removeprefix("./")
        sizes[name] = member.size
        if member.size <= _SMALL:
            handle = tar.extractfile(member)
            if handle is not None:
                small[name] = handle.read()
    return small, sizes


def _json(small: dict[str, bytes], name: str, label: str) -> Any:
    if name not in small:
        raise InputError(f"{label}: {name} is missing from the image archive")
    try:
        return json.loads(small[name])
    except ValueError:
        raise InputError(f"{label}: {name} in the image archive is not JSON") from None


def _blob(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def read_archive_members(
    small: dict[str, bytes], sizes: dict[str, int], label: str, ref: str | None
) -> ImageConfig:
    if "manifest.json" in small:
        manifest = _json(small, "manifest.json", label)
        if not isinstance(manifest, list) or not manifest:
            raise InputError(f"{label}: manifest.json holds no images")
        entry = next((m for m in manifest if ref and ref in (m.get("RepoTags") or [])), manifest[0])
        config = _json(small, entry["Config"], label)
        size = sum(sizes.get(layer, 0) for layer in entry.get("Layers") or [])
        tags = entry.get("RepoTags") or []
        return _from_config_json(
            config, ref or (tags[0] if tags else entry["Config"]), f"archive {label}", size
        )
    if "index.json" in small:
        node = _json(small, "index.json", label)
        for _ in range(4):  # an index may point at another index
            manifests = node.get("manifests") or []
            if not manifests:
                break
            chosen = next(
                (
                    m
                    for m in manifests
                    if ref
                    and (m.get("annotations") or {}).get("org.opencontainers.image.ref.name")
                    in (ref, ref.rsplit(":", 1)[-1])
                ),
                manifests[0],
            )
            node = _json(small, _blob(chosen["digest"]), label)
        if "config" not in node:
            raise InputError(f"{label}: OCI layout without an image manifest")
        config = _json(small, _blob(node["config"]["digest"]), label)
        size = sum(int(layer.get("size", 0)) for layer in node.get("layers") or [])
        return _from_config_json(config, ref or label, f"archive {label}", size)
    raise InputError(f"{label}: neither manifest.json nor index.json: not a `docker save` or OCI archive")


def read_archive(path: Path, label: str, ref: str | None = None) -> ImageConfig:
    try:
        with tarfile.open(path, "r:*") as tar:
            small, sizes = _members(tar)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f"{label}: not a readable image archive ({exc})") from None
    return read_archive_members(small, sizes, label, ref)


class _ChunkReader(io.RawIOBase):
    """A file-like view of an iterator of byte chunks (the engine's image export)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def read_stream(stream: IO[bytes], label: str, ref: str | None) -> ImageConfig:
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        small, sizes = _members(tar)
    return read_archive_members(small, sizes, label, ref)


# --- engine ----------------------------------------------------------------------------------------------------


def read_engine(ref: str, base_url: str | None, timeout: float = 60) -> ImageConfig:
    try:
        import docker
        from docker.errors import DockerException, ImageNotFound
    except ImportError:
        raise InputError(
            "security.image.ref needs the docker package (pip install docker), or give a "
            "`docker save` tarball as security.image.archive"
        ) from None
    where = base_url or "the environment's DOCKER_HOST"
    try:
        client = (
            docker.DockerClient(base_url=base_url, timeout=int(timeout))
            if base_url
            else docker.from_env(timeout=int(timeout))
        )
        client.ping()
    except DockerException as exc:
        raise InfraError(f"container engine at {where} not reachable: {exc}") from None
    try:
        image = client.images.get(ref)
        attrs = image.attrs
        history = [str(h.get("CreatedBy") or "") for h in image.history()]
    except ImageNotFound:
        raise InputError(f"security.image.ref {ref}: no such image in the engine at {where}") from None
    except DockerException as exc:
        raise InfraError(f"container engine at {where}: {exc}") from None
    cfg = attrs.get("Config") or {}
    config = ImageConfig(
        ref=ref,
        source=f"engine {where}",
        user=str(cfg.get("User") or ""),
        healthcheck=cfg.get("Healthcheck"),
        exposed_ports=sorted((cfg.get("ExposedPorts") or {}).keys()),
        env=list(cfg.get("Env") or []),
        history=history,
        size=attrs.get("Size"),
    )
    if not config.healthcheck:
        try:
            export = io.BufferedReader(_ChunkReader(image.save(named=False)))
            exported = read_stream(export, f"export of {ref}", None)
        except (DockerException, InputError, tarfile.TarError) as exc:
            config.notes.append(f"could not confirm the missing health check from the image export: {exc}")
        else:
            if exported.healthcheck:
                config.healthcheck = exported.healthcheck
                config.notes.append("health check read from the image export (the engine's inspect omits it)")
    return config


# --- rules -----------------------------------------------------------------------------------------------------

# Denied when the policy sets no allowed_ports (with allowed_ports, every port not listed is denied).
DENIED_PORTS = {22: "SSH", 2375: "unencrypted Docker API", 2376: "Docker API"}


def _port_number(spec: str) -> int | None:
    try:
        return int(spec.split("/")[0])
    except ValueError:
        return None


def evaluate(config: ImageConfig, section: Image | Mapping[str, Any], path: str) -> list[RuleHit]:
    """Pure part: an image config in, rule hits out."""
    hits: list[RuleHit] = []
    options = Image.parse(section, "security.image")
    subject = f"image {config.ref}"

    def hit(rule: str, message: str) -> None:
        hits.append(RuleHit(rule, message, path, None, subject))

    user = config.user.strip()
    if not user:
        hit("image.user-non-root", "no User in the image config: it runs as root")
    elif user.split(":")[0] in ("root", "0"):
        hit("image.user-non-root", f"User is {user}")
    test = (config.healthcheck or {}).get("Test") or []
    if not config.healthcheck or not test:
        hit("image.healthcheck", "no Healthcheck in the image config")
    elif test[0] == "NONE":
        hit("image.healthcheck", "Healthcheck is NONE")
    allowed = options.allowed_ports
    if allowed is not None:
        allowed_set = {int(p) for p in allowed}
        for spec in config.exposed_ports:
            if _port_number(spec) not in allowed_set:
                hit("image.exposed-ports", f"exposes {spec}, not in allowed_ports {sorted(allowed_set)}")
    else:  # no allow list: only the ports that are never right for a model service
        for spec in config.exposed_ports:
            port = _port_number(spec)
            if port in DENIED_PORTS:
                hit(
                    "image.exposed-ports",
                    f"exposes {spec} ({DENIED_PORTS[port]}), denied unless allowed_ports lists it",
                )
    for item in config.env:
        name, _, value = item.partition("=")
        kind = secrets.secret_value(value)
        if kind:
            hit("image.secrets", f"Env {name} holds what looks like a {kind} {secrets.mask(value)}")
        elif value and secrets.secret_name(name):
            hit("image.secrets", f"Env {name} looks like a secret {secrets.mask(value)}")
    for step in config.history:
        match = _BUILD_ARGS.match(step.strip())
        if not match:
            continue
        tokens = match.group(2).split(" ")[: int(match.group(1))]
        for token in tokens:
            name, _, value = token.partition("=")
            if value and (secrets.secret_name(name) or secrets.secret_value(value)):
                hit(
                    "image.secrets",
                    f"build argument {name} is recorded in the image history {secrets.mask(value)}",
                )
    budget = options.max_size_mb
    if budget is not None and config.size is not None and config.size > budget * (1 << 20):
        hit("image.size", f"{config.size / (1 << 20):.1f} MiB is over the {budget:g} MiB budget")
    return hits


def check(section: Image | Mapping[str, Any], ctx: GateContext, levels: dict[str, str]) -> Part:
    settings = Image.parse(section, "security.image")
    ref = settings.ref
    if settings.archive:
        archive = ctx.path(settings.archive, what="image archive")
        config = read_archive(archive, settings.archive, ref)
        default_path = str(archive)
    elif ref:
        config = read_engine(ref, settings.docker_host, settings.timeout)
        default_path = ref
    else:
        raise InputError(
            "security.image: give `archive` (a docker save tarball) or `ref` (an image in an engine)"
        )
    path = str(ctx.path(settings.location, must_exist=False)) if settings.location else default_path
    part = Part(CATEGORY)
    hits = evaluate(config, settings, path)
    size = f", {config.size / (1 << 20):.1f} MiB" if config.size is not None else ""
    rule_checks(part, hits, CATEGORY, levels, f"image {config.ref} ({config.source}{size})")
    part.evidence = {"image": config.to_dict()}
    if config.size is not None:
        part.summary["size-mb"] = round(config.size / (1 << 20), 1)
    return part
