"""Dockerfile reader: the logical instructions BuildKit's parser sees, so policy judges what `docker build` runs.

Why its own parser: a Dockerfile's meaning hangs on details a line-based scan gets wrong. This module follows
BuildKit's frontend parser (dockerfile:1 syntax):
- parser directives (`# syntax=`, `# escape=`, `# check=`) count only before any other line, comment or blank
  line; a repeated directive or an escape other than backslash or backtick is an error;
- a line continues when it ends in the escape character not itself escaped (`RUN echo \\\\` ends there);
  continuation lines keep their leading blanks and are joined without a space; comment and blank lines inside a
  continuation are dropped;
- `RUN`, `COPY` and `ADD` (also under `ONBUILD`, never in exec form) take heredocs `<<EOF`, `<<-EOF` (leading
  tabs stripped, terminator may be tab-indented), `<<'EOF'`, several per line; an unterminated heredoc is an error.
Words and variables follow BuildKit's shell lexer (quotes, the escape character, `${VAR:-default}` and friends);
a variable whose value cannot be known is reported as unknown, never guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from gates.core.errors import InputError

_DIRECTIVE = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$")
_DIRECTIVES = ("syntax", "escape", "check")
_HEREDOC = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$")
_HEREDOC_KEYWORDS = {"RUN", "COPY", "ADD"}
_EXEC_FORM = {"RUN", "CMD", "ENTRYPOINT", "SHELL", "ADD", "COPY", "VOLUME"}
_SPLIT = re.compile(r"[\t\v\f\r ]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_NESTING = 32


def _space(ch: str) -> bool:
    """Go's unicode.IsSpace (Python also counts the \\x1c-\\x1f separators as space; Go does not)."""
    return ch.isspace() and ch not in "\x1c\x1d\x1e\x1f"


def _lstrip(text: str) -> str:
    i = 0
    while i < len(text) and _space(text[i]):
        i += 1
    return text[i:]


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str  # with leading tabs already removed for <<-
    expand: bool  # False when the name was quoted: the content is taken literally


@dataclass
class Instruction:
    keyword: str  # upper case; for ONBUILD the keyword stays ONBUILD and `args` holds the inner instruction
    args: str  # the rest of the logical line after the builder flags
    flags: dict[str, str]  # --name=value builder flags (value "" for a bare --name)
    line: int  # 1-based first line
    end_line: int
    exec_form: list[str] | None = None  # the JSON array form, when used
    heredocs: list[Heredoc] = field(default_factory=list)
    comments: list[tuple[int, str]] = field(default_factory=list)  # (line, text after '#') just above
    escape: str = "\\"  # the file's escape character, for splitting and expanding the arguments

    @property
    def script(self) -> str:
        """Everything the instruction runs or writes: its arguments and its heredocs' content."""
        return "\n".join([self.args, *(doc.content for doc in self.heredocs)])


@dataclass
class Dockerfile:
    instructions: list[Instruction]
    escape: str
    directives: dict[str, str]
    warnings: list[str]


def parse(text: str, label: str) -> Dockerfile:
    """The instructions of a Dockerfile's text; InputError (naming label and line) where BuildKit would refuse."""
    text = text.removeprefix("\ufeff")
    raw_lines = text.split("\n")  # heredoc content keeps its carriage returns, as in BuildKit
    if raw_lines[-1] == "":
        raw_lines.pop()
    lines = [line.rstrip("\r") for line in raw_lines]
    escape, directives, first = _directives(lines, label)
    continuation = re.compile(
        rf"([^{re.escape(escape)}]){re.escape(escape)}[ \t]*$|^{re.escape(escape)}[ \t]*$"
    )
    out: list[Instruction] = []
    warnings: list[str] = []
    comments: list[tuple[int, str]] = []
    i = first
    while i < len(lines):
        raw = _lstrip(lines[i])
        i += 1
        if raw.startswith("#"):
            comments = [] if not raw[1:].strip() else [*comments, (i, raw[1:].strip())]
            continue
        start = i
        joined, more = _trim_continuation(raw, continuation)
        if not more and not joined:
            continue
        parts = [joined]
        while more and i < len(lines):
            nxt = lines[i]
            i += 1
            if _lstrip(nxt).startswith("#"):
                continue
            if not _lstrip(nxt):
                warnings.append(f"{label}:{i}: empty continuation line")
                continue
            piece, more = _trim_continuation(nxt, continuation)
            parts.append(piece)
        ins = _instruction("".join(parts), escape, start, i, label)
        ins.comments = comments
        comments = []
        for name, chomp, expand in _heredoc_names(ins, escape, label):
            body: list[str] = []
            while True:
                if i >= len(lines):
                    raise InputError(f"{label}:{start}: unterminated heredoc <<{name}")
                candidate = lines[i].lstrip("\t") if chomp else lines[i]
                i += 1
                if candidate == name:
                    break
                body.append(raw_lines[i - 1].lstrip("\t") if chomp else raw_lines[i - 1])
            ins.heredocs.append(Heredoc(name, "".join(b + "\n" for b in body), expand))
        ins.end_line = i
        out.append(ins)
    if not out:
        raise InputError(f"{label}: no instructions: not a Dockerfile")
    return Dockerfile(out, escape, directives, warnings)


def _directives(lines: list[str], label: str) -> tuple[str, dict[str, str], int]:
    """Parser directives at the top: (escape character, directives, index of the first line after them)."""
    found: dict[str, str] = {}
    escape = "\\"
    for index, line in enumerate(lines):
        text = _lstrip(line)
        if not text.startswith("#"):
            return escape, found, index
        match = _DIRECTIVE.match(_lstrip(text[1:]))
        key = match.group(1).lower() if match else ""
        if key not in _DIRECTIVES:
            return escape, found, index
        assert match is not None
        if key in found:
            raise InputError(f"{label}:{index + 1}: only one {key} parser directive can be used")
        found[key] = match.group(2)
        if key == "escape":
            if found[key] not in ("\\", "`"):
                raise InputError(f"{label}:{index + 1}: escape directive {found[key]!r}: expected \\ or `")
            escape = found[key]
    return escape, found, len(lines)


def _trim_continuation(line: str, pattern: re.Pattern[str]) -> tuple[str, bool]:
    """(line without its continuation character, whether it continues)."""
    match = pattern.search(line)
    if not match:
        return line, False
    return line[: match.start()] + (match.group(1) or ""), True


def _instruction(line: str, escape: str, start: int, end: int, label: str) -> Instruction:
    head = _SPLIT.split(line.strip(" \t\v\f\r\n"), maxsplit=1)
    keyword = head[0].upper()
    rest, flags = _builder_flags(head[1], escape) if len(head) == 2 else ("", {})
    rest = rest.strip(" \t\v\f\r\n")
    ins = Instruction(keyword, rest, flags, start, end, escape=escape)
    if keyword in _EXEC_FORM and _lstrip(rest).startswith("["):
        try:
            array = json.loads(rest)
        except ValueError:
            array = None  # not JSON: BuildKit falls back to the shell form
        if isinstance(array, list):
            if not all(isinstance(item, str) for item in array):
                raise InputError(f"{label}:{start}: {keyword}: a JSON array form must hold only strings")
            ins.exec_form = array
    return ins


def _builder_flags(text: str, escape: str) -> tuple[str, dict[str, str]]:
    """Leading --name[=value] words (quotes and the escape character honoured), and the rest of the line."""
    flags: dict[str, str] = {}
    pos = 0
    while True:
        while pos < len(text) and _space(text[pos]):
            pos += 1
        if not text.startswith("--", pos):
            return text[pos:], flags
        word, pos = _flag_word(text, pos, escape)
        if word == "--":
            return text[pos:], flags
        name, _, value = word[2:].partition("=")
        flags[name.lower()] = value


def _flag_word(text: str, pos: int, escape: str) -> tuple[str, int]:
    chars: list[str] = []
    quote = ""
    while pos < len(text):
        ch = text[pos]
        if not quote and _space(ch):
            break
        if ch in "'\"" and (not quote or ch == quote):
            quote = "" if quote else ch
        elif ch == escape and pos + 1 < len(text):
            pos += 1
            chars.append(text[pos])
        elif ch != escape:
            chars.append(ch)
        pos += 1
    return "".join(chars), pos


def _heredoc_names(ins: Instruction, escape: str, label: str) -> list[tuple[str, bool, bool]]:
    """(name, strip tabs, expand) of each heredoc the instruction opens, in order."""
    if ins.keyword == "ONBUILD":
        ins = _instruction(ins.args, escape, ins.line, ins.end_line, label)
    if ins.keyword not in _HEREDOC_KEYWORDS or ins.exec_form is not None or "<<" not in ins.args:
        return []
    words, lexed = _lex(ins.args, "\\")
    found = []
    for word in words if lexed else ():
        match = _HEREDOC.match(word)
        if match and match.group(3):
            rest = match.group(3)
            found.append((unquote(rest), match.group(2) == "-", not any(q in rest for q in "'\"")))
    return found


def raw_words(text: str, escape: str = "\\") -> list[str]:
    """Shell words split on unquoted blanks, quotes and escapes kept (BuildKit's raw lexing)."""
    return _lex(text, escape)[0]


def _lex(text: str, escape: str) -> tuple[list[str], bool]:
    """(raw words, whether the shell lexer accepts the text: every quote and every `${` closed)."""
    words: list[str] = []
    current: list[str] = []
    quote = ""
    in_word = False
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if not quote and _space(ch):
            if in_word:
                words.append("".join(current))
            current, in_word = [], False
        else:
            in_word = True
            current.append(ch)
            if ch == escape and quote != "'" and pos + 1 < len(text):
                pos += 1
                current.append(text[pos])
            elif ch in "'\"" and (not quote or ch == quote):
                quote = "" if quote else ch
            elif text.startswith("${", pos) and quote != "'" and _closing_brace(text, pos + 2) < 0:
                return words, False
        pos += 1
    if in_word:
        words.append("".join(current))
    return words, not quote


def unquote(word: str, escape: str = "\\") -> str:
    """A word with its quotes and escapes removed and no variables expanded."""
    return expand(word, None, escape)[0]


def expand(word: str, variables: dict[str, str] | None, escape: str = "\\") -> tuple[str, set[str]]:
    """A word as BuildKit's shell lexer evaluates it: quotes removed, $VAR and ${VAR...} expanded.

    Returns the text and the names whose value is unknown (not in `variables`, or an expansion form mlgate does not
    evaluate); with `variables` None nothing is expanded."""
    return _expand(word, variables, escape, 0)


def _expand(word: str, variables: dict[str, str] | None, escape: str, depth: int) -> tuple[str, set[str]]:
    out: list[str] = []
    unknown: set[str] = set()
    quote = ""
    pos = 0
    while pos < len(word):
        ch = word[pos]
        if ch == "'" and quote != '"':
            quote = "" if quote == "'" else "'"
        elif ch == '"' and quote != "'":
            quote = "" if quote == '"' else '"'
        elif ch == escape and quote != "'":
            if pos + 1 < len(word):  # an escape character ending the word is dropped
                pos += 1
                if quote == '"' and word[pos] not in ('"', "$", escape):
                    out.append(ch)
                out.append(word[pos])
        elif ch == "$" and quote != "'" and variables is not None:
            value, pos = _variable(word, pos, variables, unknown, escape, depth)
            out.append(value)
            continue
        else:
            out.append(ch)
        pos += 1
    return "".join(out), unknown


def _variable(
    word: str, pos: int, variables: dict[str, str], unknown: set[str], escape: str, depth: int
) -> tuple[str, int]:
    """Expand the $NAME or ${NAME<op>word} at pos; returns (value, position after it)."""
    if word.startswith("${", pos):
        close = _closing_brace(word, pos + 2)
        match = _NAME.match(word, pos + 2)
        if close < 0 or not match:
            unknown.add(word[pos:])
            return word[pos:], len(word)
        name, op_text = match.group(0), word[match.end() : close]
        if depth > _MAX_NESTING:  # ${A:-${B:-...}} nested beyond reason: not evaluated
            unknown.add(name)
            return "", close + 1
        return _operator(name, op_text, variables, unknown, escape, depth), close + 1
    match = _NAME.match(word, pos + 1)
    if not match:
        return "$", pos + 1
    name = match.group(0)
    if name not in variables:
        unknown.add(name)
    return variables.get(name, ""), match.end()


def _closing_brace(word: str, pos: int) -> int:
    depth = 1
    while pos < len(word):
        if word[pos] == "{":
            depth += 1
        elif word[pos] == "}":
            depth -= 1
            if depth == 0:
                return pos
        pos += 1
    return -1


def _operator(
    name: str, op_text: str, variables: dict[str, str], unknown: set[str], escape: str, depth: int
) -> str:
    """${NAME}, ${NAME:-w}, ${NAME-w}, ${NAME:+w}, ${NAME+w}; any other form is unknown."""
    value = variables.get(name)
    if op_text == "":
        if value is None:
            unknown.add(name)
        return value or ""
    for op in (":-", ":+", "-", "+"):
        if op_text.startswith(op):
            alternative, inner_unknown = _expand(op_text[len(op) :], variables, escape, depth + 1)
            if value is None:
                unknown.add(name)  # a build argument may still set it
                return alternative
            use_alt = (op == ":-" and value == "") or (op in (":+", "+") and (op == "+" or value != ""))
            if use_alt:
                unknown |= inner_unknown
            return alternative if use_alt else value
    unknown.add(name)
    return ""


def name_values(ins: Instruction, label: str) -> list[tuple[str, str | None]]:
    """ENV or ARG pairs as BuildKit reads them: `ENV a=b c=d`, legacy `ENV a b c`, `ARG a[=b] ...`.

    Values stay raw (quotes and variables unexpanded; `expand` evaluates them); ARG without a value gives None."""
    words = raw_words(ins.args, ins.escape)
    if not words:
        return []  # BuildKit's parser accepts it; the build itself stops there, with nothing set
    if ins.keyword == "ARG":
        return [(name, value if sep else None) for name, sep, value in (w.partition("=") for w in words)]
    if "=" not in words[0]:
        parts = _SPLIT.split(ins.args, maxsplit=1)
        if len(parts) < 2:
            raise InputError(f"{label}:{ins.line}: ENV {parts[0]}: expected a value (ENV name=value)")
        return [(parts[0], parts[1])]
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        name, sep, value = word.partition("=")
        if not sep:
            raise InputError(f"{label}:{ins.line}: ENV: expected name=value, got {word!r}")
        pairs.append((name, value))
    return pairs
