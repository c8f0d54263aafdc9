"""A real, throw-away Kubernetes 1.20 control plane bound to 127.0.0.1.

etcd + kube-apiserver + kube-controller-manager + kube-scheduler, built by
``tests/cluster/install.sh`` into the cache dir (see :func:`default_bin_dir`).
There is no kubelet: pair it with :class:`tests.cluster.fakenode.FakeNode`.

    with ControlPlane() as cp:
        print(cp.kubeconfig, cp.server)

Only the standard library and ``cryptography`` are used here.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.ports import free_port

K8S_VERSION = "1.20.2"
BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
ADMIN_USER = "mlgate-admin"


class ControlPlaneError(RuntimeError):
    """Start-up failed; the message carries the tails of the component logs."""


def default_cache_dir() -> Path:
    env = os.environ.get("MLGATE_K8S_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "mlgate" / f"k8s-{K8S_VERSION}"


def default_bin_dir() -> Path:
    return default_cache_dir() / "bin"


def missing_binaries(bin_dir: os.PathLike | None = None) -> list[str]:
    """Names of the required executables that are not available (empty = ready)."""
    bdir = Path(bin_dir) if bin_dir else default_bin_dir()
    missing = [str(bdir / b) for b in BINARIES if not os.access(bdir / b, os.X_OK)]
    if shutil.which("etcd") is None:
        missing.append("etcd (apt-get install etcd-server)")
    return missing


def _deathsig_prefix() -> list[str]:
    # Children get SIGKILL if the thread that started them dies (e.g. pytest is
    # killed by a timeout), so no control plane is left behind.
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def _tail(path: Path, lines: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 200 * lines))
            data = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"<{e}>"
    return "\n".join(data.splitlines()[-lines:])


# --------------------------------------------------------------------------- PKI
def _write_pki(d: Path) -> dict[str, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(minutes=5)
    later = now + _dt.timedelta(days=7)

    def pem_key(key) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlgate-test-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    srv_key = ec.generate_private_key(ec.SECP256R1())
    sans = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
    ]
    sans += [
        x509.DNSName(n)
        for n in (
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        )
    ]
    srv_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(srv_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    files = {
        "ca.crt": ca_cert.public_bytes(serialization.Encoding.PEM),
        "apiserver.crt": srv_cert.public_bytes(serialization.Encoding.PEM),
        "apiserver.key": pem_key(srv_key),
        "sa.key": pem_key(sa_key),
        "sa.pub": sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    }
    out = {}
    for name, data in files.items():
        p = d / name
        p.write_bytes(data)
        os.chmod(p, 0o600)
        out[name] = p
    return out


# ------------------------------------------------------------------- ControlPlane
class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler on 127.0.0.1.

    Attributes after :meth:`start`: ``kubeconfig`` (admin kubeconfig path),
    ``server`` (https URL), ``token`` (admin bearer token, group
    system:masters), ``ca_file``, ``dir`` (temp dir), ``log_dir`` (one
    ``<component>.log`` per process).
    """

    COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")

    def __init__(
        self,
        bin_dir: os.PathLike | None = None,
        *,
        etcd: str | None = None,
        workdir: os.PathLike | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        keep_dir: bool = False,
        verbosity: int = 1,
        extra_args: dict[str, list[str]] | None = None,
    ):
        self.bin_dir = Path(bin_dir) if bin_dir else default_bin_dir()
        self.etcd_bin = etcd or shutil.which("etcd") or "etcd"
        self._workdir_parent = workdir
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.keep_dir = keep_dir
        self.verbosity = verbosity
        self.extra_args = extra_args or {}
        self.dir: Path | None = None
        self.log_dir: Path | None = None
        self.kubeconfig: str | None = None
        self.server: str | None = None
        self.token: str | None = None
        self.ca_file: str | None = None
        self.ports: dict[str, int] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, object] = {}
        self.startup_seconds: float | None = None
        self.timings: dict[str, float] = {}  # seconds after start() when each step was ready
        self._t0 = 0.0

    # -- context manager
    def __enter__(self) -> ControlPlane:  # noqa: PYI034 - py3.10 has no typing.Self
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- helpers
    def _spawn(self, name: str, argv: list[str]) -> None:
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the process
        log.write(("$ " + " ".join(argv) + "\n").encode())
        self._logs[name] = log
        self.procs[name] = subprocess.Popen(
            _deathsig_prefix() + argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(self.dir),
            start_new_session=True,
            close_fds=True,
        )

    def log_path(self, component: str) -> Path:
        return self.log_dir / f"{component}.log"

    def log_tails(self, lines: int = 30) -> str:
        if not self.log_dir:
            return ""
        parts = []
        for name in self.COMPONENTS:
            p = self.log_dir / f"{name}.log"
            if p.exists():
                parts.append(f"----- {name} ({p}) -----\n{_tail(p, lines)}")
        return "\n".join(parts)

    def _check_alive(self) -> None:
        for name, p in self.procs.items():
            rc = p.poll()
            if rc is not None:
                raise ControlPlaneError(f"{name} exited with code {rc} during start-up\n{self.log_tails()}")

    def _get(self, url: str, token: str | None = None, verify: bool = True, timeout: float = 2.0):
        if verify:
            ctx = ssl.create_default_context(cafile=self.ca_file)
        else:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        req = urllib.request.Request(url)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)
        )
        with opener.open(req, timeout=timeout) as r:
            return r.status, r.read()

    def api_get(self, path: str, timeout: float = 5.0):
        """GET ``path`` on the apiserver as admin; returns the decoded JSON."""
        _, body = self._get(self.server + path, token=self.token, timeout=timeout)
        return json.loads(body)

    def _wait(self, what: str, deadline: float, probe) -> None:
        last = None
        while True:
            self._check_alive()
            try:
                if probe():
                    self.timings[what] = round(time.monotonic() - self._t0, 2)
                    return
            except (OSError, urllib.error.URLError, ValueError, ssl.SSLError) as e:
                last = e
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"timed out after {self.start_timeout:.0f}s waiting for {what} "
                    f"(last error: {last!r})\n{self.log_tails()}"
                )
            time.sleep(0.2)

    # -- lifecycle
    def start(self) -> ControlPlane:
        missing = missing_binaries(self.bin_dir)
        if missing:
            raise ControlPlaneError(
                "missing Kubernetes binaries: "
                + ", ".join(missing)
                + " -- run tests/cluster/install.sh (as root) first"
            )
        t0 = self._t0 = time.monotonic()
        self.timings = {}
        deadline = t0 + self.start_timeout
        self.dir = Path(tempfile.mkdtemp(prefix="mlgate-k8s-", dir=self._workdir_parent))
        self.log_dir = self.dir / "logs"
        self.log_dir.mkdir()
        try:
            self._start(deadline)
        except BaseException:
            # keep the logs for the post-mortem, drop the bulky etcd data
            self.stop(remove_dir=False)
            shutil.rmtree(self.dir / "etcd", ignore_errors=True)
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _start(self, deadline: float) -> None:
        d = self.dir
        pki_dir = d / "pki"
        pki_dir.mkdir()
        pki = _write_pki(pki_dir)
        self.ca_file = str(pki["ca.crt"])
        self.token = secrets.token_hex(24)
        tokens = d / "tokens.csv"
        tokens.write_text(f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        os.chmod(tokens, 0o600)

        for k in ("etcd-client", "etcd-peer", "apiserver", "controller-manager", "scheduler"):
            self.ports[k] = free_port()
        self.server = f"https://127.0.0.1:{self.ports['apiserver']}"
        self.kubeconfig = str(d / "admin.kubeconfig")
        self._write_kubeconfig(self.kubeconfig)
        v = f"--v={self.verbosity}"

        # etcd
        etcd_client = f"http://127.0.0.1:{self.ports['etcd-client']}"
        etcd_peer = f"http://127.0.0.1:{self.ports['etcd-peer']}"
        self._spawn(
            "etcd",
            [
                self.etcd_bin,
                "--name=mlgate",
                f"--data-dir={d / 'etcd'}",
                f"--listen-client-urls={etcd_client}",
                f"--advertise-client-urls={etcd_client}",
                f"--listen-peer-urls={etcd_peer}",
                f"--initial-advertise-peer-urls={etcd_peer}",
                f"--initial-cluster=mlgate={etcd_peer}",
                "--initial-cluster-state=new",
                "--log-level=warn",
                "--logger=zap",
                *self.extra_args.get("etcd", []),
            ],
        )
        self._wait(
            "etcd /health",
            deadline,
            lambda: json.loads(self._get(etcd_client + "/health")[1]).get("health") == "true",
        )

        # kube-apiserver
        self._spawn(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_client}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.ports['apiserver']}",
                "--insecure-port=0",
                f"--cert-dir={pki_dir}",
                f"--tls-cert-file={pki['apiserver.crt']}",
                f"--tls-private-key-file={pki['apiserver.key']}",
                f"--client-ca-file={pki['ca.crt']}",
                # fills extension-apiserver-authentication, so the controller-manager and
                # scheduler do not log "missing content for CA bundle" several times a second
                f"--requestheader-client-ca-file={pki['ca.crt']}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                "--anonymous-auth=true",
                f"--service-account-key-file={pki['sa.pub']}",
                f"--service-account-signing-key-file={pki['sa.key']}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--api-audiences=https://kubernetes.default.svc.cluster.local",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",
                "--profiling=false",
                "--logtostderr=true",
                v,
                *self.extra_args.get("kube-apiserver", []),
            ],
        )
        self._wait(
            "kube-apiserver /readyz",
            deadline,
            lambda: self._get(self.server + "/readyz", token=self.token)[0] == 200,
        )

        common = [
            f"--kubeconfig={self.kubeconfig}",
            f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
            "--bind-address=127.0.0.1",
            "--port=0",
            "--leader-elect=false",
            "--profiling=false",
            "--logtostderr=true",
            v,
            # client-side throttling (default qps 20) slows the controllers' start-up
            "--kube-api-qps=200",
            "--kube-api-burst=400",
        ]
        cm_dir = d / "kube-controller-manager"
        sched_dir = d / "kube-scheduler"
        cm_dir.mkdir()
        sched_dir.mkdir()
        self._spawn(
            "kube-controller-manager",
            [
                str(self.bin_dir / "kube-controller-manager"),
                *common,
                f"--secure-port={self.ports['controller-manager']}",
                f"--cert-dir={cm_dir}",
                f"--service-account-private-key-file={pki['sa.key']}",
                f"--root-ca-file={pki['ca.crt']}",
                "--use-service-account-credentials=true",
                "--service-cluster-ip-range=10.0.0.0/24",
                *self.extra_args.get("kube-controller-manager", []),
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(self.bin_dir / "kube-scheduler"),
                *common,
                f"--secure-port={self.ports['scheduler']}",
                f"--cert-dir={sched_dir}",
                *self.extra_args.get("kube-scheduler", []),
            ],
        )

        def default_token_ready() -> bool:
            sa = self.api_get("/api/v1/namespaces/default/serviceaccounts/default")
            return bool(sa.get("secrets"))

        self._wait("the default service account's token secret", deadline, default_token_ready)
        for comp, port in (
            ("kube-scheduler", self.ports["scheduler"]),
            ("kube-controller-manager", self.ports["controller-manager"]),
        ):
            self._wait(
                f"{comp} /healthz",
                deadline,
                lambda port=port: self._get(f"https://127.0.0.1:{port}/healthz", verify=False)[0] == 200,
            )

    def _write_kubeconfig(self, path: str) -> None:
        import base64

        ca_b64 = base64.b64encode(Path(self.ca_file).read_bytes()).decode()
        # JSON is valid YAML, so no YAML library is needed.
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "mlgate", "cluster": {"server": self.server, "certificate-authority-data": ca_b64}}
            ],
            "users": [{"name": ADMIN_USER, "user": {"token": self.token}}],
            "contexts": [{"name": "mlgate", "context": {"cluster": "mlgate", "user": ADMIN_USER}}],
            "current-context": "mlgate",
        }
        Path(path).write_text(json.dumps(cfg, indent=2) + "\n")
        os.chmod(path, 0o600)

    def stop(self, remove_dir: bool | None = None) -> None:
        """SIGTERM all components (reverse start order), SIGKILL after ``stop_timeout``."""
        procs = [(n, p) for n, p in reversed(list(self.procs.items())) if p.poll() is None]
        for _, p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + self.stop_timeout
        for _, p in procs:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for _, p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        for log in self._logs.values():
            try:
                log.close()
            except OSError:
                pass
        self._logs.clear()
        if remove_dir is None:
            remove_dir = not self.keep_dir
        if remove_dir and self.dir and self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)

    def memory_rss_mb(self) -> dict[str, float]:
        """Resident memory per running component in MB (from /proc)."""
        out = {}
        for name, p in self.procs.items():
            if p.poll() is not None:
                continue
            try:
                for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        out[name] = int(line.split()[1]) / 1024.0
            except OSError:
                pass
        return out
