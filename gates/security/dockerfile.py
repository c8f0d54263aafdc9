"""Dockerfile policy: non-root final USER, HEALTHCHECK, pinned bases, COPY not ADD, no secrets in ENV or ARG,
build tools only in build stages.

Exemption: a comment on the line(s) right above an instruction,
  # mlgate:ignore docker.no-add vendored tarball, checksum verified in CI
names the rule(s) (comma-separated) and the reason. Without a reason it is not honoured.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.security import secrets
from gates.security.common import Part, RuleHit, rule_checks

CATEGORY = "dockerfile"
_IGNORE = re.compile(r"^#\s*mlgate:ignore\s+([A-Za-z0-9_.\-,]+)\s*(.*)$")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z]+)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"<<-?\s*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\1")
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+]([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
_INSTALL = re.compile(r"\b(apt-get|apt|apk|yum|dnf|microdnf|zypper)\b[^;&|]*?\b(install|add)\b([^;&|]*)")
BUILD_TOOLS = {
    "gcc",
    "g++",
    "make",
    "build-essential",
    "cmake",
    "clang",
    "git",
    "gfortran",
    "autoconf",
    "automake",
    "libtool",
    "pkg-config",
    "pkgconf",
    "rustc",
    "cargo",
    "golang",
    "go",
    "musl-dev",
    "libc-dev",
    "linux-headers",
    "python3-dev",
    "python-dev",
    "ninja-build",
    "meson",
    "gcc-c++",
    "swig",
    "bison",
    "flex",
    "patch",
}
_ROOT_USERS = {"root", "0", "root:root", "0:0", "root:0", "0:root"}


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int
    ignores: dict[str, str | None] = field(default_factory=dict)  # rule -> reason (None: no reason given)
    ignore_line: int | None = None


@dataclass
class Stage:
    index: int
    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"stage {self.index + 1}" + (f" ({self.name})" if self.name else "")


def parse(text: str) -> tuple[list[Instruction], str]:
    """Logical instructions with their first line number (continuations, comments, heredocs handled)."""
    lines = text.splitlines()
    escape = "\\"
    for raw in lines:  # parser directives come first, before any other line
        match = _DIRECTIVE.match(raw.strip())
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            escape = match.group(2)
    out: list[Instruction] = []
    pending: dict[str, str | None] = {}
    pending_line: int | None = None
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped:
            i += 1
            continue
        if stripped.startswith("#"):
            match = _IGNORE.match(stripped)
            if match:
                reason = match.group(2).strip() or None
                for rule in match.group(1).split(","):
                    if rule.strip():
                        pending[rule.strip()] = reason
                pending_line = i + 1
            i += 1
            continue
        start = i
        parts = [stripped]
        while parts[-1].endswith(escape) and i + 1 < len(lines):
            parts[-1] = parts[-1][:-1]
            i += 1
            nxt = lines[i].strip()
            if nxt.startswith("#"):
                parts.append(escape)  # comment lines inside a continuation are dropped
                continue
            parts.append(nxt)
        joined = " ".join(p for p in parts if p != escape).strip()
        if joined.endswith(escape):
            joined = joined[:-1]
        keyword, _, args = joined.partition(" ")
        for doc in _HEREDOC.finditer(args) if keyword.upper() in ("RUN", "COPY", "ADD") else ():
            terminator = doc.group(2)
            body = []
            while i + 1 < len(lines) and lines[i + 1].strip() != terminator:
                i += 1
                body.append(lines[i])
            i += 1
            args += "\n" + "\n".join(body)
        out.append(Instruction(keyword.upper(), args.strip(), start + 1, pending, pending_line))
        pending, pending_line = {}, None
        i += 1
    return out, escape


def substitute(text: str, variables: dict[str, str]) -> tuple[str, bool]:
    """Expand $VAR, ${VAR}, ${VAR:-default}; returns (text, every variable was known)."""
    known = True

    def repl(match: re.Match) -> str:
        nonlocal known
        name = match.group(1) or match.group(3)
        if name in variables:
            return variables[name]
        if match.group(2) is not None and match.group(0).startswith("${") and ":-" in match.group(0):
            return match.group(2)
        known = False
        return match.group(0)

    return _VAR.sub(repl, text), known


def _flags_and_rest(args: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    rest = args
    while rest.startswith("--"):
        token, _, rest = rest.partition(" ")
        key, _, value = token[2:].partition("=")
        flags[key] = value
        rest = rest.lstrip()
    return flags, rest


def _pairs(args: str, keyword: str) -> list[tuple[str, str | None]]:
    """ENV a=b c=d / ENV a b (legacy) / ARG a[=b]."""
    try:
        tokens = shlex.split(args, posix=True)
    except ValueError:
        tokens = args.split()
    if keyword == "ENV" and tokens and "=" not in tokens[0]:
        return [(tokens[0], " ".join(tokens[1:]))]
    out = []
    for token in tokens:
        name, sep, value = token.partition("=")
        out.append((name, value if sep else None))
    return out


def stages_of(instructions: list[Instruction]) -> tuple[list[Stage], dict[str, str]]:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            _, rest = _flags_and_rest(ins.args)
            words = rest.split()
            base = words[0] if words else ""
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(len(stages), base, name, ins.line))
        elif not stages and ins.keyword == "ARG":
            for key, value in _pairs(ins.args, "ARG"):
                if value is not None:
                    global_args[key] = value
        if stages:
            stages[-1].instructions.append(ins)
    return stages, global_args


def _install_tools(run: str) -> list[str]:
    found: set[str] = set()
    for match in _INSTALL.finditer(run):
        for word in match.group(3).split():
            pkg = re.split(r"[=<>]", word.strip("'\""))[0]
            if pkg.startswith("-") or not pkg:
                continue
            if pkg in BUILD_TOOLS or pkg.endswith(("-dev", "-devel")):
                found.add(pkg)
    return sorted(found)


def evaluate(text: str, path: str) -> tuple[list[RuleHit], dict[str, Any]]:
    """Pure part: a Dockerfile's text in, rule hits and a description of its stages out."""
    instructions, _ = parse(text)
    stages, global_args = stages_of(instructions)
    hits: list[RuleHit] = []
    if not stages:
        raise InputError(f"{path}: no FROM instruction: not a Dockerfile")
    names = {s.name.lower(): s for s in stages if s.name}

    def hit(rule: str, message: str, ins: Instruction | None, stage: Stage | None) -> None:
        h = RuleHit(
            rule,
            message,
            path,
            ins.line if ins else (stage.line if stage else 1),
            stage.label if stage else "",
        )
        if ins and rule in ins.ignores:
            reason = ins.ignores[rule]
            if reason:
                h.exempt_reason = f"mlgate:ignore: {reason}"
            else:
                hits.append(
                    RuleHit(
                        "docker.exemption-without-reason",
                        f"'# mlgate:ignore {rule}' has no reason: not honoured",
                        path,
                        ins.ignore_line or ins.line,
                        h.subject,
                    )
                )
        hits.append(h)

    def chain(stage: Stage) -> list[Stage]:
        """The stage and the earlier stages it is built FROM, nearest first."""
        out = [stage]
        while (
            out[-1].base.lower() in names
            and names[out[-1].base.lower()].index < out[-1].index
            and len(out) < 64
        ):
            out.append(names[out[-1].base.lower()])
        return out

    # Base images: every FROM that is not an earlier stage.
    for stage in stages:
        from_ins = stage.instructions[0]
        if stage.base.lower() in names and names[stage.base.lower()].index < stage.index:
            continue
        image, complete = substitute(stage.base, global_args)
        if image.lower() == "scratch":
            continue
        if not complete:
            hit(
                "docker.base-pinned",
                f"base image {stage.base} uses a build argument without a default",
                from_ins,
                stage,
            )
            continue
        name, _, digest = image.partition("@")
        last = name.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last else None
        if not digest and (tag is None or tag == "latest"):
            state = "untagged (means latest)" if tag is None else "tagged latest"
            hit("docker.base-pinned", f"base image {image} is {state}", from_ins, stage)
        if not digest:
            hit("docker.base-digest", f"base image {image} is not pinned by digest", from_ins, stage)

    final = stages[-1]
    final_chain = chain(final)
    # USER and HEALTHCHECK are inherited along the chain of stages.
    user_ins = next(
        (ins for s in final_chain for ins in reversed(s.instructions) if ins.keyword == "USER"), None
    )
    if user_ins is None:
        hit(
            "docker.user-non-root",
            "the final stage sets no USER, so it runs as root",
            final.instructions[0],
            final,
        )
    else:
        user, _ = substitute(
            user_ins.args.split()[0] if user_ins.args else "", _stage_vars(final_chain, global_args)
        )
        if user.lower() in _ROOT_USERS or user.split(":")[0] in ("root", "0"):
            hit("docker.user-non-root", f"the final USER is {user}", user_ins, final)
    health = next(
        (ins for s in final_chain for ins in reversed(s.instructions) if ins.keyword == "HEALTHCHECK"), None
    )
    if health is None:
        hit("docker.healthcheck", "the final stage has no HEALTHCHECK", final.instructions[0], final)
    elif health.args.strip().upper() == "NONE":
        hit("docker.healthcheck", "HEALTHCHECK NONE turns the health check off", health, final)

    for stage in stages:
        for ins in stage.instructions:
            if ins.keyword == "ADD":
                flags, rest = _flags_and_rest(ins.args)
                remote = "://" in rest
                hit(
                    "docker.no-add",
                    "ADD of a remote URL"
                    + (" with --checksum" if "checksum" in flags else " without --checksum")
                    if remote
                    else "ADD of local files (use COPY)",
                    ins,
                    stage,
                )
            if ins.keyword in ("ENV", "ARG"):
                for name, value in _pairs(ins.args, ins.keyword):
                    kind = secrets.secret_value(value or "")
                    if kind:
                        hit(
                            "docker.secrets",
                            f"{ins.keyword} {name} holds what looks like a {kind} "
                            f"{secrets.mask(value or '')}",
                            ins,
                            stage,
                        )
                    elif secrets.secret_name(name) and (ins.keyword == "ARG" or value):
                        where = (
                            "build arguments are kept in the image history"
                            if ins.keyword == "ARG"
                            else f"value {secrets.mask(value or '')} is baked into the image"
                        )
                        hit(
                            "docker.secrets",
                            f"{ins.keyword} {name} looks like a secret ({where})",
                            ins,
                            stage,
                        )
    final_indexes = {s.index for s in final_chain}
    for stage in stages:
        for ins in stage.instructions:
            if ins.keyword != "RUN":
                continue
            tools = _install_tools(ins.args)
            if not tools:
                continue
            if len(stages) == 1:
                hit(
                    "docker.multi-stage",
                    f"installs build tools ({', '.join(tools)}) in a single-stage build: "
                    f"they ship in the image",
                    ins,
                    stage,
                )
            elif stage.index in final_indexes:
                hit(
                    "docker.multi-stage",
                    f"installs build tools ({', '.join(tools)}) in a stage the final image is built on",
                    ins,
                    stage,
                )
    description = {
        "stages": [{"index": s.index + 1, "name": s.name, "base": s.base, "line": s.line} for s in stages],
        "final_user": user_ins.args if user_ins else None,
        "healthcheck": health.args if health else None,
    }
    return hits, description


def _stage_vars(chain: list[Stage], global_args: dict[str, str]) -> dict[str, str]:
    variables = dict(global_args)
    for stage in reversed(chain):
        for ins in stage.instructions:
            if ins.keyword in ("ARG", "ENV"):
                for key, value in _pairs(ins.args, ins.keyword):
                    if value is not None:
                        variables[key] = value
    return variables


def check(section: dict[str, Any], ctx: GateContext, levels: dict[str, str]) -> Part:
    paths = section["paths"] if isinstance(section["paths"], list) else [section["paths"]]
    part = Part(CATEGORY)
    hits: list[RuleHit] = []
    described = {}
    for raw in paths:
        path = ctx.path(raw, what="Dockerfile")
        if path.is_dir():
            path = ctx.path(str(Path(raw) / "Dockerfile"), what="Dockerfile")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{raw}: not UTF-8 text") from None
        file_hits, described[raw] = evaluate(text, str(path))
        hits += file_hits
    rule_checks(part, hits, CATEGORY, levels, f"{len(paths)} Dockerfile(s)")
    part.evidence = {"dockerfiles": described}
    return part
