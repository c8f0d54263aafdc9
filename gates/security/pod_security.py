"""Pod Security Standards, baseline and restricted, on one pod template: every control as the upstream PodSecurity
admission checks it (k8s.io/pod-security-admission, policy version "latest"), so a manifest mlgate passes is one
the cluster admits under that level.

Why here and not only in the cluster: a pull request should fail before anything is applied, with the file, line,
object, container and control named. Pod-level and container-level fields both count; init and ephemeral containers
are containers. Each control maps to one rule id (k8s.*) whose level the policy can change; the restricted-only
controls are not checked under `standard: baseline`.

Controls (baseline): HostProcess, host namespaces, privileged, capabilities beyond the default set, hostPath
volumes, host ports, AppArmor, SELinux, /proc mount type, seccomp (not Unconfined), sysctls (safe set), probe and
lifecycle `host`. Restricted adds: volume types, privilege escalation, running as non-root (and not uid 0),
seccomp RuntimeDefault or Localhost required, capabilities drop ALL and add only NET_BIND_SERVICE, /proc mount
Default even in a user namespace. Windows pods (spec.os.name: windows) are exempt from the restricted privilege
escalation, seccomp and capabilities controls, as upstream; pods in a user namespace (hostUsers: false) from
runAsNonRoot, runAsUser and the baseline /proc mount control.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gates.readers.manifests import Place, line_of
from gates.security.common import RuleHit

STANDARDS = ("baseline", "restricted")
DEFAULT_STANDARD = "restricted"

BASELINE_CAPABILITIES = frozenset(
    [
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    ]
)
RESTRICTED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
SAFE_SYSCTLS = frozenset(
    [
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
        "net.ipv4.tcp_slow_start_after_idle",
        "net.ipv4.tcp_notsent_lowat",
    ]
)
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
RESTRICTED_VOLUMES = frozenset(
    [
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    ]
)
_PROFILES = ("RuntimeDefault", "Localhost")
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


@dataclass
class Container:
    """One container of a pod template, with what it is called in findings and where it sits."""

    kind: str  # "container", "init container", "ephemeral container"
    name: str
    data: dict[str, Any]
    place: Place
    runtime_image: bool = False  # KServe framework containers: the ServingRuntime may supply the image


@dataclass
class PodTemplate:
    """A pod spec inside an object (a Deployment's template, a KServe predictor, a Seldon componentSpec, ...)."""

    spec: dict[str, Any]
    place: Place
    containers: list[Container]
    annotations: dict[str, Any]
    subject: str  # "Deployment/api (document 1)", with the template's name when an object holds several


def containers_of(
    spec: dict[str, Any], place: Place, extra: list[tuple[Place, dict[str, Any]]]
) -> list[Container]:
    """Every container the pod runs: init, regular (plus `extra`, e.g. KServe's framework container), ephemeral."""
    out: list[Container] = []
    for kind, key in (("init container", "initContainers"), ("container", "containers")):
        out += [Container(kind, str(c.get("name", "?")), c, p) for p, c in place.items(spec, key)]
    out += [Container("container", str(c.get("name", "?")), c, p, runtime_image=True) for p, c in extra]
    out += [
        Container("ephemeral container", str(c.get("name", "?")), c, p)
        for p, c in place.items(spec, "ephemeralContainers")
    ]
    return out


class _Checker:
    """Runs the controls of one standard on one pod template and collects their hits."""

    def __init__(self, pod: PodTemplate, path: str, standard: str) -> None:
        self.pod, self.path, self.restricted = pod, path, standard == "restricted"
        self.hits: list[RuleHit] = []
        self.pod_ctx = pod.place.mapping(pod.spec, "securityContext")
        self.pod_ctx_place = pod.place.at("securityContext")
        os_name = pod.place.mapping(pod.spec, "os").get("name")
        self.windows = os_name == "windows"
        self.user_namespace = pod.spec.get("hostUsers") is False

    def hit(
        self,
        rule: str,
        control: str,
        message: str,
        line: int | None,
        container: Container | None = None,
        level: str = "baseline",
    ) -> None:
        """A finding of `control` (named as the standard names it), at `line` or else the container or pod."""
        subject = self.pod.subject + (f" {container.kind} {container.name}" if container else "")
        self.hits.append(
            RuleHit(
                rule,
                f"{message} (Pod Security Standards {level}: {control})",
                self.path,
                line or line_of(container.data if container else self.pod.spec),
                subject,
                properties={"control": control, "standard": level},
            )
        )

    def context(self, container: Container) -> tuple[dict[str, Any], Place]:
        return container.place.mapping(container.data, "securityContext"), container.place.at(
            "securityContext"
        )

    def run(self) -> list[RuleHit]:
        for control in (_host_namespaces, _host_process, _volumes, _sysctls, _pod_profiles, _run_as):
            control(self)
        for container in self.pod.containers:
            for check in _CONTAINER_CONTROLS:
                check(self, container)
        return self.hits


def check_pod(pod: PodTemplate, path: str, standard: str = DEFAULT_STANDARD) -> list[RuleHit]:
    """The Pod Security Standards findings of one pod template under `standard` (baseline or restricted)."""
    return _Checker(pod, path, standard).run()


# --- pod-level controls ----------------------------------------------------------------------------------------


def _host_namespaces(c: _Checker) -> None:
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if c.pod.place.get(c.pod.spec, key, bool) is True:
            c.hit("k8s.host-namespaces", "Host Namespaces", f"{key}: true", line_of(c.pod.spec, key))


def _host_process(c: _Checker) -> None:
    windows = c.pod_ctx_place.mapping(c.pod_ctx, "windowsOptions")
    if windows.get("hostProcess") is True:
        c.hit(
            "k8s.host-process",
            "HostProcess",
            "windowsOptions.hostProcess: true",
            line_of(windows, "hostProcess"),
        )


def _volumes(c: _Checker) -> None:
    for place, volume in c.pod.place.items(c.pod.spec, "volumes"):
        name = volume.get("name", "?")
        sources = [key for key in volume if key != "name"]  # no source at all defaults to emptyDir
        if "hostPath" in sources:
            path = place.mapping(volume, "hostPath").get("path", "?")
            c.hit(
                "k8s.host-path",
                "HostPath Volumes",
                f"volume {name} is a hostPath ({path})",
                line_of(volume, "hostPath"),
            )
        elif c.restricted and (bad := [s for s in sources if s not in RESTRICTED_VOLUMES]):
            allowed = ", ".join(sorted(RESTRICTED_VOLUMES))
            message = f"volume {name} is of type {', '.join(bad)} (allowed: {allowed})"
            c.hit("k8s.volume-types", "Volume Types", message, line_of(volume, bad[0]), level="restricted")


def _sysctls(c: _Checker) -> None:
    for place, sysctl in c.pod_ctx_place.items(c.pod_ctx, "sysctls"):
        name = place.get(sysctl, "name", str)
        if name not in SAFE_SYSCTLS:
            c.hit("k8s.sysctls", "Sysctls", f"sysctl {name} is not in the safe set", line_of(sysctl))


def _key_line(node: dict[str, Any], key: str) -> int | None:
    """The line of `key` in node when it is there (else None: the finding falls back to the container's line)."""
    return line_of(node, key) if key in node else None


def _profile_type(place: Place, context: dict[str, Any], key: str) -> tuple[str | None, int | None]:
    profile = place.mapping(context, key)
    return place.at(key).get(profile, "type", str), line_of(profile, "type")


def _pod_profiles(c: _Checker) -> None:
    """AppArmor, seccomp and SELinux set for the whole pod, and the AppArmor annotations."""
    apparmor, line = _profile_type(c.pod_ctx_place, c.pod_ctx, "appArmorProfile")
    if apparmor is not None and apparmor not in _PROFILES:
        c.hit("k8s.apparmor", "AppArmor", f"appArmorProfile.type: {apparmor}", line)
    for key, value in c.pod.annotations.items():
        if (
            str(key).startswith(_APPARMOR_ANNOTATION)
            and value
            and not (value == "runtime/default" or str(value).startswith("localhost/"))
        ):
            c.hit("k8s.apparmor", "AppArmor", f"annotation {key}: {value}", line_of(c.pod.annotations, key))
    seccomp, line = _profile_type(c.pod_ctx_place, c.pod_ctx, "seccompProfile")
    if seccomp == "Unconfined":
        c.hit("k8s.seccomp", "Seccomp", "seccompProfile.type: Unconfined", line)
    elif c.restricted and not c.windows and seccomp not in _PROFILES and seccomp is not None:
        message = f"seccompProfile.type: {seccomp} (need RuntimeDefault or Localhost)"
        c.hit("k8s.seccomp", "Seccomp", message, line, level="restricted")
    _selinux(c, c.pod_ctx, c.pod_ctx_place, None)


def _run_as(c: _Checker) -> None:
    """Restricted: the pod does not say runAsNonRoot: false or runAsUser: 0 (containers are checked one by one)."""
    if not c.restricted or c.user_namespace:
        return
    if c.pod_ctx_place.get(c.pod_ctx, "runAsNonRoot", bool) is False:
        line = line_of(c.pod_ctx, "runAsNonRoot")
        c.hit("k8s.run-as-non-root", "Running as Non-root", "runAsNonRoot: false", line, level="restricted")
    if c.pod_ctx_place.get(c.pod_ctx, "runAsUser", int) == 0:
        line = line_of(c.pod_ctx, "runAsUser")
        c.hit(
            "k8s.run-as-non-root", "Running as Non-root user", "runAsUser: 0 (root)", line, level="restricted"
        )


def _selinux(c: _Checker, context: dict[str, Any], place: Place, container: Container | None) -> None:
    options = place.mapping(context, "seLinuxOptions")
    selinux_type = options.get("type")
    if selinux_type is not None and selinux_type not in SELINUX_TYPES:
        c.hit(
            "k8s.selinux",
            "SELinux",
            f"seLinuxOptions.type: {selinux_type}",
            line_of(options, "type"),
            container,
        )
    for key in ("user", "role"):
        if options.get(key):
            c.hit("k8s.selinux", "SELinux", f"seLinuxOptions.{key} is set", line_of(options, key), container)


# --- container-level controls ----------------------------------------------------------------------------------


def _privileged(c: _Checker, container: Container) -> None:
    sec, place = c.context(container)
    if place.get(sec, "privileged", bool) is True:
        c.hit(
            "k8s.not-privileged",
            "Privileged Containers",
            "privileged: true",
            line_of(sec, "privileged"),
            container,
        )
    if place.mapping(sec, "windowsOptions").get("hostProcess") is True:
        line = line_of(place.mapping(sec, "windowsOptions"), "hostProcess")
        c.hit("k8s.host-process", "HostProcess", "windowsOptions.hostProcess: true", line, container)


def _capabilities(c: _Checker, container: Container) -> None:
    sec, place = c.context(container)
    caps = place.mapping(sec, "capabilities")
    caps_place = place.at("capabilities")
    added = {str(x) for x in caps_place.get(caps, "add", list) or []}
    strict = c.restricted and not c.windows
    if beyond := sorted(added - BASELINE_CAPABILITIES):
        message = f"adds {', '.join(beyond)} (beyond the default set)"
        c.hit("k8s.added-capabilities", "Capabilities", message, line_of(caps, "add"), container)
    elif strict and (extra := sorted(added - RESTRICTED_CAPABILITIES)):
        message = f"adds {', '.join(extra)} (only NET_BIND_SERVICE may be added)"
        c.hit(
            "k8s.added-capabilities", "Capabilities", message, line_of(caps, "add"), container, "restricted"
        )
    if strict and "ALL" not in {str(x) for x in caps_place.get(caps, "drop", list) or []}:
        line = line_of(caps, "drop") if caps else _key_line(container.data, "securityContext")
        message = "capabilities.drop does not include ALL"
        c.hit("k8s.drop-all-capabilities", "Capabilities", message, line, container, "restricted")


def _host_ports(c: _Checker, container: Container) -> None:
    for place, port in container.place.items(container.data, "ports"):
        host_port = place.get(port, "hostPort", int)
        if host_port:
            c.hit(
                "k8s.host-ports", "Host Ports", f"hostPort {host_port}", line_of(port, "hostPort"), container
            )


def _container_profiles(c: _Checker, container: Container) -> None:
    sec, place = c.context(container)
    apparmor, line = _profile_type(place, sec, "appArmorProfile")
    if apparmor is not None and apparmor not in _PROFILES:
        c.hit("k8s.apparmor", "AppArmor", f"appArmorProfile.type: {apparmor}", line, container)
    seccomp, line = _profile_type(place, sec, "seccompProfile")
    pod_seccomp = c.pod_ctx_place.mapping(c.pod_ctx, "seccompProfile").get("type")
    if seccomp == "Unconfined":
        c.hit("k8s.seccomp", "Seccomp", "seccompProfile.type: Unconfined", line, container)
    elif (
        c.restricted
        and not c.windows
        and seccomp not in _PROFILES
        and (seccomp is not None or pod_seccomp is None)
    ):
        message = "no seccompProfile RuntimeDefault or Localhost (pod or container)"
        line = line or _key_line(container.data, "securityContext")
        c.hit("k8s.seccomp", "Seccomp", message, line, container, "restricted")
    _selinux(c, sec, place, container)
    proc_mount = place.get(sec, "procMount", str)
    if proc_mount not in (None, "Default") and (c.restricted or not c.user_namespace):
        level = "baseline" if not c.user_namespace else "restricted"
        line = line_of(sec, "procMount")
        c.hit("k8s.proc-mount", "/proc Mount Type", f"procMount: {proc_mount}", line, container, level)


def _probe_hosts(c: _Checker, container: Container) -> None:
    handlers = [
        (key, container.place.mapping(container.data, key))
        for key in ("livenessProbe", "readinessProbe", "startupProbe")
    ]
    lifecycle = container.place.mapping(container.data, "lifecycle")
    handlers += [
        (f"lifecycle.{key}", container.place.at("lifecycle").mapping(lifecycle, key))
        for key in ("postStart", "preStop")
    ]
    for name, handler in handlers:
        for action in ("httpGet", "tcpSocket"):
            target = handler.get(action)
            if isinstance(target, dict) and target.get("host"):
                c.hit(
                    "k8s.probe-host",
                    "Host Probes / Lifecycle Hooks",
                    f"{name}.{action}.host: {target['host']}",
                    line_of(target, "host"),
                    container,
                )


def _escalation_and_user(c: _Checker, container: Container) -> None:
    """Restricted: allowPrivilegeEscalation false, runAsNonRoot true (here or on the pod), runAsUser not 0."""
    if not c.restricted:
        return
    sec, place = c.context(container)
    if not c.windows and place.get(sec, "allowPrivilegeEscalation", bool) is not False:
        line = line_of(sec, "allowPrivilegeEscalation") if sec else None
        message = "allowPrivilegeEscalation is not false"
        c.hit("k8s.no-privilege-escalation", "Privilege Escalation", message, line, container, "restricted")
    if c.user_namespace:
        return
    non_root = place.get(sec, "runAsNonRoot", bool)
    pod_non_root = c.pod_ctx_place.get(c.pod_ctx, "runAsNonRoot", bool)
    control = "Running as Non-root"
    if non_root is False:
        line = line_of(sec, "runAsNonRoot")
        c.hit("k8s.run-as-non-root", control, "runAsNonRoot: false", line, container, "restricted")
    elif non_root is None and pod_non_root is None:
        message = "runAsNonRoot is not true (pod or container)"
        line = _key_line(container.data, "securityContext")
        c.hit("k8s.run-as-non-root", control, message, line, container, "restricted")
    if place.get(sec, "runAsUser", int) == 0:
        line = line_of(sec, "runAsUser")
        c.hit("k8s.run-as-non-root", control + " user", "runAsUser: 0 (root)", line, container, "restricted")


_CONTAINER_CONTROLS: tuple[Callable[[_Checker, Container], None], ...] = (
    _privileged,
    _capabilities,
    _host_ports,
    _container_profiles,
    _probe_hosts,
    _escalation_and_user,
)
