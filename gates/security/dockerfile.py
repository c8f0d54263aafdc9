"""Dockerfile policy: non-root final USER, HEALTHCHECK, pinned bases, COPY not ADD, no secrets in ENV or ARG,
build tools only in build stages. The file is read as BuildKit reads it (gates.readers.dockerfile).

Exemption: a comment on the line(s) right above an instruction,
  # mlgate:ignore docker.no-add vendored tarball, checksum verified in CI
names the rule(s) (comma-separated) and the reason. Without a reason it is not honoured.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gates.core.context import GateContext
from gates.core.errors import InputError
from gates.core.settings.base import as_list
from gates.core.settings.security import Dockerfile
from gates.readers import dockerfile
from gates.readers.dockerfile import Instruction
from gates.security import secrets
from gates.security.common import Part, RuleHit, rule_checks

CATEGORY = "dockerfile"
_IGNORE = re.compile(r"^mlgate:ignore\s+([A-Za-z0-9_.\-,]+)\s*(.*)$")
_INSTALL = re.compile(r"\b(apt-get|apt|apk|yum|dnf|microdnf|zypper)\b[^;&|]*?\b(install|add)\b([^;&|]*)")
# Local archives ADD unpacks (tar, plain or gzip, bzip2, xz, zstd compressed): the one job COPY cannot do.
_ARCHIVE = re.compile(r"\.(tar|tgz|tbz2?|txz|tzst|tar\.(gz|bz2|xz|zst))$", re.IGNORECASE)
_REMOTE = re.compile(r"^([a-z][a-z0-9+.-]*://|git@)", re.IGNORECASE)
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


def parse(text: str, label: str = "Dockerfile") -> tuple[list[Instruction], str]:
    """The logical instructions (as BuildKit reads them) and the escape character."""
    parsed = dockerfile.parse(text, label)
    return parsed.instructions, parsed.escape


def stages_of(instructions: list[Instruction], label: str) -> tuple[list[Stage], dict[str, str]]:
    """The build stages and the global build arguments (declared before the first FROM) that have a value."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            words = ins.args.split()
            base = words[0] if words else ""
            expanded, unknown = dockerfile.expand(base, global_args, ins.escape)
            base = base if unknown else expanded  # FROM $STAGE names an earlier stage once expanded
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(len(stages), base, name, ins.line))
        elif not stages and ins.keyword == "ARG":
            for key, value in dockerfile.name_values(ins, label):
                if value is None:
                    global_args.pop(key, None)
                else:
                    global_args[key] = dockerfile.expand(value, global_args, ins.escape)[0]
        if stages:
            stages[-1].instructions.append(ins)
    return stages, global_args


def variables_at(
    chain: list[Stage], target: Instruction, global_args: dict[str, str], label: str
) -> dict[str, str]:
    """The variables an instruction can expand, with a known value: ENV along the chain of stages it is built on,
    the ARGs of its own stage (a bare `ARG NAME` takes the global default). ENV wins over ARG, as in BuildKit."""
    env: dict[str, str] = {}
    for stage in reversed(chain):
        args: dict[str, str] = {}
        for ins in stage.instructions:
            if ins is target:
                return {**args, **env}
            if ins.keyword not in ("ARG", "ENV"):
                continue
            for key, value in dockerfile.name_values(ins, label):
                scope = args if ins.keyword == "ARG" else env
                if value is None and key in global_args:
                    args[key] = global_args[key]
                elif value is None:
                    args.pop(key, None)
                else:
                    scope[key] = dockerfile.expand(value, {**args, **env}, ins.escape)[0]
    return env


def root_user(user: str) -> bool:
    """Whether a USER value (user[:group]) means uid 0: `root`, or a number runc reads as 0 (0, 00, +0, -0)."""
    name = user.split(":", 1)[0]
    return name == "root" or bool(re.fullmatch(r"[+-]?[0-9]+", name)) and int(name) == 0


def _install_tools(ins: Instruction) -> list[str]:
    """Build tools a RUN installs with a system package manager (in its shell line, exec form or heredocs)."""
    run = " ".join(ins.exec_form) if ins.exec_form is not None else ins.script
    found: set[str] = set()
    for match in _INSTALL.finditer(run):
        for word in match.group(3).split():
            pkg = re.split(r"[=<>]", word.strip("'\""))[0]
            if pkg.startswith("-") or not pkg:
                continue
            if pkg in BUILD_TOOLS or pkg.endswith(("-dev", "-devel")):
                found.add(pkg)
    return sorted(found)


class _Hits(list[RuleHit]):
    """Rule hits of one Dockerfile, with the `# mlgate:ignore` comments above each instruction applied."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def add(self, rule: str, message: str, ins: Instruction, stage: Stage) -> None:
        hit = RuleHit(rule, message, self.path, ins.line, stage.label)
        for line, comment in ins.comments:
            match = _IGNORE.match(comment)
            if not match or rule not in {r.strip() for r in match.group(1).split(",")}:
                continue
            if match.group(2).strip():
                hit.exempt_reason = f"mlgate:ignore: {match.group(2).strip()}"
            else:
                self.append(
                    RuleHit(
                        "docker.exemption-without-reason",
                        f"'# mlgate:ignore {rule}' has no reason: not honoured",
                        self.path,
                        line,
                        stage.label,
                    )
                )
        self.append(hit)


def evaluate(text: str, path: str) -> tuple[list[RuleHit], dict[str, Any]]:
    """Pure part: a Dockerfile's text in, rule hits and a description of its stages out."""
    instructions, _ = parse(text, path)
    stages, global_args = stages_of(instructions, path)
    if not stages:
        raise InputError(f"{path}: no FROM instruction: not a Dockerfile")
    names = {s.name.lower(): s for s in stages if s.name}
    hits = _Hits(path)
    _check_bases(stages, names, global_args, hits)
    final = stages[-1]
    final_chain = _chain(final, names)
    # USER and HEALTHCHECK are inherited along the chain of stages.
    user_ins = _last(final_chain, "USER")
    if user_ins is None:
        hits.add(
            "docker.user-non-root",
            "the final stage sets no USER, so it runs as root",
            final.instructions[0],
            final,
        )
    else:
        _check_user(user_ins, final_chain, global_args, hits, final)
    health = _last(final_chain, "HEALTHCHECK")
    if health is None:
        hits.add("docker.healthcheck", "the final stage has no HEALTHCHECK", final.instructions[0], final)
    elif health.args.strip().upper() == "NONE":
        hits.add("docker.healthcheck", "HEALTHCHECK NONE turns the health check off", health, final)
    final_indexes = {s.index for s in final_chain}
    for stage in stages:
        for ins in stage.instructions:
            if ins.keyword == "ADD" and (problem := _add_problem(ins)):
                hits.add("docker.no-add", problem, ins, stage)
            if ins.keyword in ("ENV", "ARG"):
                _check_secrets(ins, stage, hits)
            if ins.keyword == "RUN" and (tools := _install_tools(ins)):
                where = "a single-stage build: they ship in the image" if len(stages) == 1 else None
                if stage.index in final_indexes:
                    where = where or "a stage the final image is built on"
                    hits.add(
                        "docker.multi-stage",
                        f"installs build tools ({', '.join(tools)}) in {where}",
                        ins,
                        stage,
                    )
    description = {
        "stages": [{"index": s.index + 1, "name": s.name, "base": s.base, "line": s.line} for s in stages],
        "final_user": user_ins.args if user_ins else None,
        "healthcheck": health.args if health else None,
    }
    return list(hits), description


def _chain(stage: Stage, names: dict[str, Stage]) -> list[Stage]:
    """The stage and the earlier stages it is built FROM, nearest first."""
    out = [stage]
    while (parent := names.get(out[-1].base.lower())) is not None and parent.index < out[-1].index:
        out.append(parent)
    return out


def _last(chain: list[Stage], keyword: str) -> Instruction | None:
    return next((ins for s in chain for ins in reversed(s.instructions) if ins.keyword == keyword), None)


def _check_bases(
    stages: list[Stage], names: dict[str, Stage], global_args: dict[str, str], hits: _Hits
) -> None:
    """Every FROM that is not an earlier stage names an image pinned by tag (and, better, by digest)."""
    for stage in stages:
        from_ins = stage.instructions[0]
        if stage.base.lower() in names and names[stage.base.lower()].index < stage.index:
            continue
        image, unknown = dockerfile.expand(stage.base, global_args, from_ins.escape)
        if image.lower() == "scratch":
            continue
        if unknown:
            hits.add(
                "docker.base-pinned",
                f"base image {stage.base} uses a build argument without a default ({', '.join(sorted(unknown))})",
                from_ins,
                stage,
            )
            continue
        name, _, digest = image.partition("@")
        last = name.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last else None
        if not digest and (tag is None or tag == "latest"):
            state = "untagged (means latest)" if tag is None else "tagged latest"
            hits.add("docker.base-pinned", f"base image {image} is {state}", from_ins, stage)
        if not digest:
            hits.add("docker.base-digest", f"base image {image} is not pinned by digest", from_ins, stage)


def _check_user(
    user_ins: Instruction, chain: list[Stage], global_args: dict[str, str], hits: _Hits, final: Stage
) -> None:
    """The final USER, with its variables expanded, is not uid 0; a value mlgate cannot know is a finding too."""
    own = next(i for i, s in enumerate(chain) if any(ins is user_ins for ins in s.instructions))
    variables = variables_at(chain[own:], user_ins, global_args, hits.path)
    user, unknown = dockerfile.expand(user_ins.args.strip(), variables, user_ins.escape)
    if unknown or not user:
        missing = f"{', '.join(sorted(unknown))} has no known value" if unknown else "it is empty"
        hits.add(
            "docker.user-non-root",
            f"cannot tell the final user: USER {user_ins.args}: {missing}",
            user_ins,
            final,
        )
    elif root_user(user):
        shown = user if user == user_ins.args else f"{user} (USER {user_ins.args})"
        hits.add("docker.user-non-root", f"the final USER is {shown}", user_ins, final)


def _add_problem(ins: Instruction) -> str | None:
    """Why an ADD should be a COPY or a checked download; None for what only ADD does well: a local archive to
    unpack, or a remote file verified with --checksum."""
    if ins.heredocs:
        return "ADD of an inline file (use COPY)"
    if ins.exec_form is not None:
        sources = ins.exec_form[:-1]
    else:
        sources = [dockerfile.unquote(w, ins.escape) for w in dockerfile.raw_words(ins.args, ins.escape)][:-1]
    remote = [src for src in sources if _REMOTE.match(src)]
    if remote and not ins.flags.get("checksum"):
        return f"ADD of a remote URL without --checksum ({remote[0]})"
    local = [src for src in sources if not _REMOTE.match(src) and not _ARCHIVE.search(src)]
    if local:
        return f"ADD of local files (use COPY): {local[0]} is not a tar archive"
    return None


def _check_secrets(ins: Instruction, stage: Stage, hits: _Hits) -> None:
    for name, raw in dockerfile.name_values(ins, hits.path):
        value = dockerfile.unquote(raw, ins.escape) if raw is not None else ""
        kind = secrets.secret_value(value)
        if kind:
            message = f"{ins.keyword} {name} holds what looks like a {kind} {secrets.mask(value)}"
            hits.add("docker.secrets", message, ins, stage)
        elif secrets.secret_name(name) and (ins.keyword == "ARG" or value):
            where = (
                "build arguments are kept in the image history"
                if ins.keyword == "ARG"
                else f"value {secrets.mask(value)} is baked into the image"
            )
            hits.add("docker.secrets", f"{ins.keyword} {name} looks like a secret ({where})", ins, stage)


def check(section: Dockerfile | Mapping[str, Any], ctx: GateContext, levels: dict[str, str]) -> Part:
    paths = as_list(Dockerfile.parse(section, "security.dockerfile").paths)
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
