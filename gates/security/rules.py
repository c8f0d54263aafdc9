"""Every policy rule the security gate knows: id, default level, title and the fix, for reports and SARIF.

A policy can change a rule's level (`security.rules: {k8s.image-digest: error}`) or turn it off (`off`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gates.core.errors import InputError

LEVELS = ("error", "warning", "note", "off")


@dataclass(frozen=True)
class Rule:
    id: str
    level: str
    title: str
    help: str


_RULES = [
    # Kubernetes manifests
    Rule(
        "k8s.run-as-non-root",
        "error",
        "Container may run as root",
        "Set securityContext.runAsNonRoot: true (pod or container) and do not set runAsUser: 0.",
    ),
    Rule(
        "k8s.read-only-root-fs",
        "error",
        "Root filesystem is writable",
        "Set securityContext.readOnlyRootFilesystem: true; mount an emptyDir where the process must write.",
    ),
    Rule(
        "k8s.no-privilege-escalation",
        "error",
        "Privilege escalation not disabled",
        "Set securityContext.allowPrivilegeEscalation: false on every container.",
    ),
    Rule("k8s.not-privileged", "error", "Privileged container", "Remove securityContext.privileged: true."),
    Rule(
        "k8s.drop-all-capabilities",
        "error",
        "Capabilities not dropped",
        "Set securityContext.capabilities.drop: [ALL] and add back only what the process needs.",
    ),
    Rule(
        "k8s.added-capabilities",
        "error",
        "Capabilities added",
        "Add no Linux capabilities beyond NET_BIND_SERVICE (restricted); baseline allows only the container "
        "runtime's default set (AUDIT_WRITE CHOWN DAC_OVERRIDE FOWNER FSETID KILL MKNOD NET_BIND_SERVICE SETFCAP "
        "SETGID SETPCAP SETUID SYS_CHROOT).",
    ),
    Rule(
        "k8s.host-process",
        "error",
        "Windows HostProcess container",
        "Remove securityContext.windowsOptions.hostProcess: true (pod and containers).",
    ),
    Rule(
        "k8s.host-ports",
        "error",
        "Host port",
        "Remove ports[].hostPort; expose the container through a Service.",
    ),
    Rule(
        "k8s.apparmor",
        "error",
        "AppArmor profile overridden",
        "Use appArmorProfile.type RuntimeDefault or Localhost (annotations: runtime/default or localhost/*), "
        "or leave it unset.",
    ),
    Rule(
        "k8s.selinux",
        "error",
        "Custom SELinux options",
        "Leave seLinuxOptions.user and role unset; type only container_t, container_init_t, container_kvm_t "
        "or container_engine_t.",
    ),
    Rule(
        "k8s.proc-mount",
        "error",
        "Unmasked /proc",
        "Remove securityContext.procMount (or set Default).",
    ),
    Rule(
        "k8s.seccomp",
        "error",
        "Seccomp profile missing or Unconfined",
        "Set securityContext.seccompProfile.type: RuntimeDefault (or Localhost) on the pod; never Unconfined.",
    ),
    Rule(
        "k8s.sysctls",
        "error",
        "Unsafe sysctl",
        "Set only the safe sysctls (kernel.shm_rmid_forced, net.ipv4.ip_local_port_range, ...): see "
        "docs/security-manifests.md.",
    ),
    Rule(
        "k8s.probe-host",
        "error",
        "Probe or lifecycle hook targets another host",
        "Remove `host` from httpGet / tcpSocket probes and lifecycle handlers: they must target the pod itself.",
    ),
    Rule(
        "k8s.volume-types",
        "error",
        "Volume type not allowed by the restricted standard",
        "Use configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected or "
        "secret volumes; reach other storage through a PersistentVolumeClaim.",
    ),
    Rule(
        "k8s.host-namespaces",
        "error",
        "Host namespace shared",
        "Remove hostNetwork, hostPID and hostIPC (or set them to false).",
    ),
    Rule(
        "k8s.host-path",
        "error",
        "hostPath volume",
        "Use emptyDir, a ConfigMap, a Secret or a PersistentVolumeClaim instead of hostPath (and no "
        "PersistentVolume backed by hostPath).",
    ),
    Rule(
        "k8s.resource-requests",
        "error",
        "CPU or memory request missing",
        "Set resources.requests.cpu and resources.requests.memory on every container.",
    ),
    Rule(
        "k8s.resource-limits",
        "error",
        "CPU or memory limit missing",
        "Set resources.limits.cpu and resources.limits.memory on every container.",
    ),
    Rule(
        "k8s.liveness-probe",
        "error",
        "Liveness probe missing",
        "Add a livenessProbe to every long-running container.",
    ),
    Rule(
        "k8s.readiness-probe",
        "error",
        "Readiness probe missing",
        "Add a readinessProbe to every long-running container.",
    ),
    Rule(
        "k8s.image-tag",
        "error",
        "Image not pinned to a tag",
        "Use an explicit version tag (not 'latest', not missing), ideally with an @sha256 digest.",
    ),
    Rule(
        "k8s.image-digest",
        "warning",
        "Image not pinned by digest",
        "Pin the image by digest (name:tag@sha256:...) so the deployed bytes cannot change under the tag.",
    ),
    Rule(
        "k8s.pdb",
        "error",
        "No PodDisruptionBudget for a multi-replica workload",
        "Add a PodDisruptionBudget whose selector matches the pod template labels.",
    ),
    Rule(
        "k8s.service-account-token",
        "error",
        "Service account token mounted",
        "Set automountServiceAccountToken: false on the pod spec (or its ServiceAccount) unless the "
        "process calls the Kubernetes API.",
    ),
    Rule(
        "k8s.exemption-without-reason",
        "error",
        "Exemption without a reason",
        "Give every mlgate.io/exempt annotation a mlgate.io/exempt-reason annotation.",
    ),
    # Dockerfile
    Rule(
        "docker.user-non-root",
        "error",
        "Final image runs as root",
        "End the final stage with USER <non-root user or uid>.",
    ),
    Rule(
        "docker.healthcheck",
        "error",
        "No HEALTHCHECK",
        "Add a HEALTHCHECK to the final stage (and build with the docker image format).",
    ),
    Rule(
        "docker.base-pinned",
        "error",
        "Base image not pinned",
        "Use an explicit version tag on every FROM (not 'latest', not missing).",
    ),
    Rule(
        "docker.base-digest",
        "warning",
        "Base image not pinned by digest",
        "Pin every FROM by digest (image:tag@sha256:...).",
    ),
    Rule(
        "docker.no-add",
        "error",
        "ADD used",
        "Use COPY for local files; download with a checksum-verified RUN step or ADD --checksum.",
    ),
    Rule(
        "docker.secrets",
        "error",
        "Secret in ENV or ARG",
        "Pass secrets with RUN --mount=type=secret or at run time, never through ENV or ARG.",
    ),
    Rule(
        "docker.multi-stage",
        "error",
        "Build tools in the final image",
        "Install compilers and build tools in a build stage and COPY --from it into a slim final stage.",
    ),
    Rule(
        "docker.exemption-without-reason",
        "error",
        "Exemption without a reason",
        "Write '# mlgate:ignore <rule> <reason>' with a reason.",
    ),
    # Image configuration
    Rule("image.user-non-root", "error", "Image runs as root", "Set a non-root USER in the image config."),
    Rule(
        "image.healthcheck",
        "error",
        "Image has no health check",
        "Add a HEALTHCHECK (OCI-format images drop it: build with the docker format).",
    ),
    Rule(
        "image.exposed-ports",
        "error",
        "Unexpected exposed port",
        "Expose only the ports listed in security.image.allowed_ports (without that list, only SSH 22 and "
        "the Docker API 2375/2376 are denied).",
    ),
    Rule(
        "image.secrets",
        "error",
        "Secret in the image config",
        "Remove secrets from ENV and build arguments; they are readable by anyone who pulls the image.",
    ),
    Rule(
        "image.size",
        "error",
        "Image over its size budget",
        "Slim the image (multi-stage build, smaller base, no caches) or raise security.image.max_size_mb.",
    ),
    # Model artifacts
    Rule(
        "artifact.dangerous-global",
        "error",
        "Model artifact can run code when loaded",
        "Do not load this file. Re-export the model in a safe format (skops, safetensors, ONNX).",
    ),
    Rule(
        "artifact.unknown-global",
        "error",
        "Model artifact imports an unvetted callable",
        "Vet what the name really is, then list it in security.artifacts.allowed_globals (one exact name: "
        "MODULE.NAME, or MODULE:QUALIFIED.NAME for a nested name), or use a safe format.",
    ),
    Rule(
        "artifact.keras-lambda",
        "error",
        "Keras Lambda layer (serialized Python code)",
        "Replace Lambda layers with registered custom layers, or load only with safe_mode=True.",
    ),
    Rule(
        "artifact.unreadable",
        "error",
        "Model artifact could not be scanned",
        "The file is damaged, truncated, encrypted or in a format the scanner does not read.",
    ),
    Rule(
        "artifact.unknown-format",
        "error",
        "Unknown model format",
        "Use a scanned format (pickle, joblib, PyTorch zip, numpy, Keras, skops, safetensors, ONNX).",
    ),
]

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}


def level_of(rule_id: str, overrides: dict[str, str]) -> str:
    return overrides.get(rule_id, RULES[rule_id].level)


def validate_overrides(overrides: dict[str, str], where: str = "security.rules") -> dict[str, str]:
    for rule_id, level in overrides.items():
        if rule_id not in RULES:
            prefix = rule_id.split(".")[0] + "."
            known = sorted(r for r in RULES if r.startswith(prefix)) or sorted(RULES)
            raise InputError(f"{where}.{rule_id}: unknown rule (known: {', '.join(known)})")
        if level not in LEVELS:
            raise InputError(f"{where}.{rule_id}: expected one of {', '.join(LEVELS)}, got {level!r}")
    return overrides
