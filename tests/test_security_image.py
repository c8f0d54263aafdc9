"""Image config policy: from `docker save` tarballs built here (no engine), and from a real podman service."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

from gates.core.context import GateContext
from gates.core.errors import InfraError, InputError
from gates.core.result import Status
from gates.security import image

GOOD_CONFIG = {
    "User": "10001:10001",
    "ExposedPorts": {"8080/tcp": {}},
    "Env": [
        "PATH=/opt/venv/bin:/usr/bin:/bin",
        "TOKENIZERS_PARALLELISM=false",
        "MODEL_PATH=/models/model.skops",
    ],
    "Healthcheck": {"Test": ["CMD", "python", "-c", "print(1)"], "Interval": 30000000000},
    "Cmd": ["python", "-m", "service"],
}
BAD_CONFIG = {
    "User": "",
    "ExposedPorts": {"8080/tcp": {}, "22/tcp": {}},
    "Env": ["PATH=/usr/bin:/bin", "HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyzABCDEFGH"],
    "Cmd": ["python"],
}


def _layer(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _config(cfg: dict, history: list[str] | None = None) -> dict:
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [{"created_by": step} for step in history or []],
    }


def docker_archive(
    path: Path, cfg: dict, tag: str, layer_size: int = 1000, history: list[str] | None = None
) -> Path:
    """What `docker save` (before Docker 25) and `podman save --format docker-archive` write."""
    layer = _layer({"app/model.bin": b"\0" * layer_size})
    config = json.dumps(_config(cfg, history)).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    with tarfile.open(path, "w") as tar:
        _add(tar, "abc123/layer.tar", layer)
        _add(tar, "abc123/VERSION", b"1.0")
        _add(tar, config_name, config)
        _add(
            tar,
            "manifest.json",
            json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": ["abc123/layer.tar"]}]).encode(),
        )
    return path


def oci_archive(path: Path, cfg: dict, tag: str) -> Path:
    """An OCI image layout (what `docker save` writes since Docker 25, minus its legacy manifest.json)."""

    def blob(data: bytes) -> tuple[str, str]:
        digest = hashlib.sha256(data).hexdigest()
        return f"sha256:{digest}", f"blobs/sha256/{digest}"

    layer = _layer({"app/model.bin": b"\1" * 2048})
    config = json.dumps(_config(cfg)).encode()
    (layer_digest, layer_name), (config_digest, config_name) = blob(layer), blob(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    manifest_digest, manifest_name = blob(manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    with tarfile.open(path, "w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _add(tar, "index.json", json.dumps(index).encode())
        for name, data in ((layer_name, layer), (config_name, config), (manifest_name, manifest)):
            _add(tar, name, data)
    return path


def _check(base: Path, section: dict, levels: dict | None = None):
    return image.check(section, GateContext(base, base / "r"), levels or {})


def test_good_docker_archive_passes_without_an_engine(tmp_path):
    docker_archive(tmp_path / "good.tar", GOOD_CONFIG, "acme/credit:1.4.0")
    part = _check(tmp_path, {"archive": "good.tar", "allowed_ports": [8080], "max_size_mb": 10})
    assert [(c.name, c.status) for c in part.checks] == [("image", Status.PASS)]
    evidence = part.evidence["image"]
    assert evidence["ref"] == "acme/credit:1.4.0" and evidence["user"] == "10001:10001"
    assert evidence["env_names"] == [
        "PATH",
        "TOKENIZERS_PARALLELISM",
        "MODEL_PATH",
    ]  # names only, never values


def test_bad_docker_archive_fails_each_rule(tmp_path):
    docker_archive(
        tmp_path / "bad.tar",
        BAD_CONFIG,
        "acme/credit:bad",
        layer_size=3 << 20,
        history=[
            "|2 GITHUB_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB VERSION=1 /bin/sh -c make",
            '/bin/sh -c #(nop)  CMD ["python"]',
        ],
    )
    part = _check(
        tmp_path, {"archive": "bad.tar", "allowed_ports": [8080], "max_size_mb": 1, "location": "Dockerfile"}
    )
    checks = {c.name: c for c in part.checks}
    assert set(checks) == {
        f"image:image.{r}" for r in ("user-non-root", "healthcheck", "exposed-ports", "secrets", "size")
    }
    assert all(c.status is Status.FAIL for c in checks.values())
    assert checks["image:image.secrets"].value == 2  # HF_TOKEN in Env, GITHUB_TOKEN in the build history
    assert "hf_abc" not in json.dumps([c.to_dict() for c in part.checks])
    assert "22/tcp" in checks["image:image.exposed-ports"].why
    assert all(f.location.path == str(tmp_path / "Dockerfile") for f in part.findings)


def test_oci_layout_archive(tmp_path):
    cfg = {k: v for k, v in GOOD_CONFIG.items() if k != "Healthcheck"}  # the OCI config has no health check
    oci_archive(tmp_path / "oci.tar", cfg, "1.4.0")
    part = _check(tmp_path, {"archive": "oci.tar", "ref": "1.4.0"})
    assert [c.name for c in part.checks] == ["image:image.healthcheck"]
    assert part.evidence["image"]["size_bytes"] > 2048


def test_archive_problems_are_input_errors(tmp_path):
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all")
    with pytest.raises(InputError, match="not a readable image archive"):
        _check(tmp_path, {"archive": "junk.tar"})
    with tarfile.open(tmp_path / "empty.tar", "w") as tar:
        _add(tar, "hello.txt", b"hi")
    with pytest.raises(InputError, match="neither manifest.json nor index.json"):
        _check(tmp_path, {"archive": "empty.tar"})


def test_engine_export_chunks_are_read_as_one_stream(tmp_path):
    """The engine's image export arrives as byte chunks of any size; read_engine reads them as one stream."""
    data = docker_archive(tmp_path / "good.tar", GOOD_CONFIG, "acme/credit:1.4.0").read_bytes()
    chunks = (data[i : i + 777] for i in range(0, len(data), 777))
    config = image.read_stream(io.BufferedReader(image._ChunkReader(chunks)), "export", None)
    assert config.user == "10001:10001" and config.healthcheck


def test_unreachable_engine_is_an_infrastructure_error(tmp_path):
    with pytest.raises(InfraError, match="not reachable"):
        image.read_engine("acme/credit:1", f"unix://{tmp_path}/nothing.sock", timeout=2)


# --- a real Docker-compatible engine: podman's API service --------------------------------------------------------


def _podman_env(tmp_path: Path) -> dict[str, str]:
    conf = tmp_path / "containers.conf"
    conf.write_text(
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
        '[engine]\nruntime = "runc"\n'
    )
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


@pytest.mark.podman
@pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman (apt-get install podman)")
def test_podman_engine(tmp_path, request):
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("needs busybox (apt-get install busybox-static) to make a base image without a registry")
    env = _podman_env(tmp_path)
    short = Path(tempfile.mkdtemp(prefix="mlg-pm-", dir="/tmp"))  # podman wants a runroot under 50 characters
    request.addfinalizer(lambda: shutil.rmtree(short, ignore_errors=True))
    podman = [
        "podman",
        "--root",
        str(tmp_path / "root"),
        "--runroot",
        str(short / "run"),
        "--storage-driver",
        "vfs",
    ]
    rootfs = tmp_path / "rootfs" / "bin"
    rootfs.mkdir(parents=True)
    shutil.copy(busybox, rootfs / "busybox")
    (rootfs / "sh").symlink_to("busybox")
    with tarfile.open(tmp_path / "busybox.tar", "w") as tar:
        tar.add(tmp_path / "rootfs", arcname=".")
    subprocess.run(
        [*podman, "import", str(tmp_path / "busybox.tar"), "localhost/busybox:1"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    for name, dockerfile in (
        (
            "good",
            (
                "FROM localhost/busybox:1\nUSER 10001:10001\nEXPOSE 8080\n"
                'HEALTHCHECK --interval=30s CMD ["/bin/busybox", "true"]\nCMD ["/bin/sh"]\n'
            ),
        ),
        ("bad", 'FROM localhost/busybox:1\nENV API_TOKEN=s3cr3t-value\nEXPOSE 22\nCMD ["/bin/sh"]\n'),
    ):
        context = tmp_path / name
        context.mkdir()
        (context / "Dockerfile").write_text(dockerfile)
        # The docker format keeps HEALTHCHECK (the OCI format has no field for it).
        subprocess.run(
            [*podman, "build", "--format", "docker", "-t", f"localhost/app:{name}", str(context)],
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
    sock = short / "podman.sock"
    service = subprocess.Popen(
        [*podman, "system", "service", "--time=0", f"unix://{sock}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sock.exists():
                try:
                    with socket.socket(socket.AF_UNIX) as probe:
                        probe.connect(str(sock))
                    break
                except OSError:
                    pass
            time.sleep(0.1)
        else:
            pytest.fail("podman system service did not start")
        host = f"unix://{sock}"
        good = _check(
            tmp_path,
            {"ref": "localhost/app:good", "docker_host": host, "allowed_ports": [8080], "max_size_mb": 50},
        )
        assert [(c.name, c.status) for c in good.checks] == [("image", Status.PASS)], [
            c.why for c in good.checks
        ]
        assert good.evidence["image"]["source"] == f"engine {host}"
        assert good.evidence["image"]["healthcheck"]["Test"] == ["CMD", "/bin/busybox", "true"]
        bad = _check(tmp_path, {"ref": "localhost/app:bad", "docker_host": host, "allowed_ports": [8080]})
        assert {c.name for c in bad.checks} == {
            "image:image.user-non-root",
            "image:image.healthcheck",
            "image:image.exposed-ports",
            "image:image.secrets",
        }
        with pytest.raises(InputError, match="no such image"):
            _check(tmp_path, {"ref": "localhost/missing:1", "docker_host": host})
        # The same image through `podman save`: the tarball path gives the same verdict with no engine at all.
        subprocess.run(
            [
                *podman,
                "save",
                "--format",
                "docker-archive",
                "-o",
                str(tmp_path / "good.tar"),
                "localhost/app:good",
            ],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        archived = _check(tmp_path, {"archive": "good.tar", "allowed_ports": [8080]})
        assert [(c.name, c.status) for c in archived.checks] == [("image", Status.PASS)]
    finally:
        service.terminate()
        try:
            service.wait(timeout=10)
        except subprocess.TimeoutExpired:
            service.kill()


@pytest.mark.parametrize(
    "ports, allowed, flagged",
    [
        ({"8080/tcp": {}, "22/tcp": {}, "2375/tcp": {}}, None, ["22/tcp", "2375/tcp"]),  # default deny list
        ({"8080/tcp": {}, "9000/tcp": {}}, None, []),  # other ports pass unless allowed_ports is set
        ({"8080/tcp": {}, "9000/tcp": {}}, [8080], ["9000/tcp"]),
        ({"22/tcp": {}}, [22], []),  # allowed_ports decides alone when it is set
    ],
)
def test_exposed_ports_default_deny_and_allow_list(ports, allowed, flagged):
    config = image.ImageConfig(
        ref="app:1",
        source="test",
        user="app",
        healthcheck={"Test": ["CMD", "true"]},
        exposed_ports=sorted(ports),
    )
    options = {} if allowed is None else {"allowed_ports": allowed}
    hits = [h for h in image.evaluate(config, options, "app.tar") if h.rule == "image.exposed-ports"]
    assert [h.message.split()[1].rstrip(",") for h in hits] == flagged
