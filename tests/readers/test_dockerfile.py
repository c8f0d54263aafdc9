"""The Dockerfile reader against BuildKit: hand-picked constructs from real Dockerfiles, and random files compared
with BuildKit's own Go parser (the `dockerfile` wheel) where it is installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gates.core.errors import InputError
from gates.readers import dockerfile as reader


def _shape(text: str) -> list[tuple[str, int, int, list[str]]]:
    return [
        (i.keyword, i.line, i.end_line, [d.name for d in i.heredocs])
        for i in reader.parse(text, "Df").instructions
    ]


def test_directives_only_at_the_top():
    parsed = reader.parse("# syntax=docker/dockerfile:1\n#ESCAPE = `\nFROM a\nRUN dir c:\\\nUSER x\n", "Df")
    assert parsed.escape == "`" and parsed.directives == {"syntax": "docker/dockerfile:1", "escape": "`"}
    assert [i.keyword for i in parsed.instructions] == ["FROM", "RUN", "USER"]  # c:\ does not continue
    for late in ("# a comment\n# escape=`\n", "\n# escape=`\n", "# unknown=1\n# escape=`\n"):
        assert reader.parse(late + "FROM a\n", "Df").escape == "\\"
    assert reader.parse("   # escape=`\nFROM a\n", "Df").escape == "`"
    # `check` (dockerfile 1.8) is a directive, so an escape after it still counts; the random comparison below
    # leaves it out because the Go parser in the `dockerfile` wheel predates it.
    assert reader.parse("# check=skip=all\n# escape=`\nFROM a\n", "Df").escape == "`"


@pytest.mark.parametrize(
    "text, message",
    [
        ("# escape=x\nFROM a\n", "Df:1: escape directive 'x'"),
        ("# escape=`\n# escape=\\\nFROM a\n", "Df:2: only one escape parser directive"),
        ("FROM a\nRUN <<EOF\necho\n", "Df:2: unterminated heredoc <<EOF"),
        ("FROM a\nRUN [1, 2]\n", "Df:2: RUN: a JSON array form must hold only strings"),
        ("# only a comment\n\n", "Df: no instructions"),
    ],
)
def test_what_buildkit_refuses_is_a_one_line_input_error(text, message):
    with pytest.raises(InputError) as caught:
        reader.parse(text, "Df")
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_continuations_keep_blanks_drop_comments_and_empty_lines():
    parsed = reader.parse(
        "FROM a\nRUN apt-get install \\\n# gcc is needed\n\n    gcc \\\n  && true\nUSER 1\n", "Df"
    )
    run = parsed.instructions[1]
    assert (run.line, run.end_line, run.args) == (2, 6, "apt-get install     gcc   && true")
    assert parsed.warnings == ["Df:4: empty continuation line"]
    assert reader.parse("FROM a\nRUN echo foo\\\nbar\n", "Df").instructions[1].args == "echo foobar"


def test_a_line_ending_in_an_escaped_backslash_ends_there():
    assert _shape("FROM a\nRUN echo \\\\\nUSER root\n") == [
        ("FROM", 1, 1, []),
        ("RUN", 2, 2, []),
        ("USER", 3, 3, []),
    ]
    assert _shape("FROM a\nRUN echo \\ \t\nUSER root\n") == [("FROM", 1, 1, []), ("RUN", 2, 3, [])]


def test_heredocs():
    text = (
        "FROM a\nCOPY <<-EOF <<'RAW' /etc/\n\tuser=root\n\t\tEOF\n$HOME\nRAW\n"
        'RUN <<EOF\n  EOF\nEOF\nRUN << NOT\nRUN ["<<EOF"]\nRUN 3<<IN cat <&3\nx\nIN\nONBUILD RUN <<X\nX\n'
    )
    parsed = reader.parse(text, "Df").instructions
    copy = parsed[1]
    assert [(d.name, d.content, d.expand) for d in copy.heredocs] == [
        ("EOF", "user=root\n", True),
        ("RAW", "$HOME\n", False),
    ]
    assert [(d.name, d.content) for d in parsed[2].heredocs] == [
        ("EOF", "  EOF\n")
    ]  # spaces never indent a terminator
    assert _shape(text)[3:] == [
        ("RUN", 10, 10, []),
        ("RUN", 11, 11, []),
        ("RUN", 12, 14, ["IN"]),
        ("ONBUILD", 15, 16, ["X"]),
    ]
    assert "user=root" in copy.script


def test_flags_and_exec_form():
    parsed = reader.parse(
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS b\nADD --checksum=sha256:ab --chmod=644 https://x/y /y\n"
        'RUN --mount=type=secret,id=tok "--" ls\nCOPY ["a b", "/c"]\n',
        "Df",
    ).instructions
    assert parsed[0].flags == {"platform": "$BUILDPLATFORM"} and parsed[0].args == "golang:1.22 AS b"
    assert parsed[1].flags == {"checksum": "sha256:ab", "chmod": "644"} and parsed[1].args == "https://x/y /y"
    assert parsed[2].flags == {"mount": "type=secret,id=tok"} and parsed[2].args == '"--" ls'
    assert parsed[3].exec_form == ["a b", "/c"]
    trailing = reader.parse('FROM a\nRUN ["a"] <<EOF\nx\nEOF\n', "Df").instructions[1]
    assert trailing.exec_form is None and [d.name for d in trailing.heredocs] == [
        "EOF"
    ]  # shell form since 1.10


def test_env_and_arg_pairs():
    env, arg, legacy = reader.parse(
        'FROM a\nENV A=1 B="two words" C\\ D=3\nARG X Y=2\nENV K v w\n', "Df"
    ).instructions[1:]
    assert reader.name_values(env, "Df") == [("A", "1"), ("B", '"two words"'), ("C\\ D", "3")]
    assert reader.name_values(arg, "Df") == [("X", None), ("Y", "2")]
    assert reader.name_values(legacy, "Df") == [("K", "v w")]
    for bad in ("ENV K\n", "ENV A=1 B\n"):
        with pytest.raises(InputError, match="Df:2: ENV"):
            reader.name_values(reader.parse("FROM a\n" + bad, "Df").instructions[1], "Df")


@pytest.mark.parametrize(
    "word, variables, expected",
    [
        ("$U", {"U": "0"}, ("0", set())),
        ("${U}:${G}", {"U": "0"}, ("0:", {"G"})),
        ("${U:-root}", {}, ("root", {"U"})),
        ("${U:-root}", {"U": ""}, ("root", set())),
        ("${U-root}", {"U": ""}, ("", set())),
        ("${U:+x}", {"U": "1"}, ("x", set())),
        ("${U#pre}", {"U": "prefix"}, ("", {"U"})),
        ("'$U'\"$U\"\\$U", {"U": "1"}, ("$U1$U", set())),
        ('"a\\b\\"c"', {}, ('a\\b"c', set())),
        ("$", {}, ("$", set())),
        ("${", {}, ("${", {"${"})),
    ],
)
def test_expand(word, variables, expected):
    assert reader.expand(word, variables) == expected


# --- differential: random Dockerfiles against BuildKit's parser --------------------------------------------------

_LINES = [
    "FROM alpine:3.20 AS base",
    "FROM base",
    "RUN echo hi",
    "RUN echo a \\",
    "RUN echo a `",
    "  && echo b \\",
    "RUN echo \\\\",
    "\\",
    "`",
    "   ",
    "",
    "# a comment",
    "#",
    "  # indented comment \\",
    "# escape=`",
    "# syntax=docker/dockerfile:1",
    "USER root",
    "ENV A=1 B=2",
    "ARG X",
    "COPY <<EOF /x",
    "COPY <<-EOF <<E2 /x",
    "RUN <<'EOF' python3",
    "RUN cat <<EOF | sh \\",
    'ADD ["<<EOF", "/x"]',
    "ONBUILD RUN <<EOF",
    "RUN 2<<EOF cat",
    "EOF",
    "\tEOF",
    "\t\tE2",
    "E2",
    "  EOF",
    "WORKDIR c:\\",
    "COPY --from=base --chown=1:1 a b",
    "  from a",
    'COPY <<"EOF" /x',
    "RUN <<EOF1 <<EOF2",
    "EOF1",
    "EOF2",
    'RUN ["a"] \\',  # with a next line: JSON then more text, see _trailing_json
    "RUN [1]",
    "ENV A 1",
    "ENV A",
    "ENV A=1 B",
    'RUN echo "a \\',
    "\ufeffFROM a",
]


def _docs(heredocs, keyword: str | None) -> list[tuple[str, str]]:
    """Names and tab-stripped content; none for ONBUILD, whose heredocs the Python binding does not expose."""
    if (keyword or "").upper() == "ONBUILD":
        return []
    return [(h.name, "".join(line.lstrip("\t") for line in h.content.splitlines(True))) for h in heredocs]


def _trailing_json(text: str) -> bool:
    """A line whose arguments start with a JSON array followed by more text (or a continuation): dockerfile 1.10
    and later read it as shell form (json.Unmarshal); the Go parser in the wheel is older and took the array."""
    for line in text.replace("\r", "").split("\n"):
        rest = line.strip().partition(" ")[2].lstrip()
        try:
            _, end = json.JSONDecoder().raw_decode(rest)
        except ValueError:
            continue
        if rest[end:].strip():
            return True
    return False


def _buildkit(text: str):
    dockerfile = pytest.importorskip("dockerfile")
    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError:
        return "error"
    shape = []
    for c in commands:
        shape.append(((c.cmd or "").upper(), c.start_line, c.end_line, _docs(c.heredocs, c.cmd)))
    return shape


def _mine(text: str):
    try:
        parsed = reader.parse(text, "Df")
        for ins in parsed.instructions:
            if ins.keyword == "ENV":
                reader.name_values(ins, "Df")
    except InputError:
        return "error"
    shape = []
    for i in parsed.instructions:
        shape.append((i.keyword, i.line, i.end_line, _docs(i.heredocs, i.keyword)))
    return shape


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_LINES), max_size=14), st.sampled_from(["\n", "\r\n"]))
def test_same_instructions_as_buildkit(lines, newline):
    text = newline.join(lines) + newline
    assume(not _trailing_json(text))
    assert _mine(text) == _buildkit(text), text


_CHARS = st.text(alphabet=st.sampled_from(list("FROMRUNCOPYENV <-'\"\\`#=${}:[]\t\n\rEOF0")), max_size=80)


@settings(max_examples=500, deadline=None)
@given(_CHARS)
def test_random_characters_read_as_buildkit_reads_them(text):
    assume(not _trailing_json(text))
    assert _mine(text) == _buildkit(text), text


@settings(max_examples=300, deadline=None)
@given(_CHARS)
def test_any_text_gives_instructions_or_a_one_line_error(text):
    try:
        parsed = reader.parse(text, "Df")
    except InputError as exc:
        assert str(exc).startswith("Df") and "\n" not in str(exc)
        return
    for ins in parsed.instructions:
        for word in reader.raw_words(ins.args, ins.escape):
            reader.expand(word, {"EOF": "x"}, ins.escape)
        if ins.keyword in ("ENV", "ARG"):
            try:
                reader.name_values(ins, "Df")
            except InputError as exc:
                assert str(exc).startswith("Df:") and "\n" not in str(exc)


REAL = Path(__file__).parents[1] / "fixtures" / "security" / "dockerfiles"


@pytest.mark.parametrize("name", sorted(p.name for p in REAL.glob("*.Dockerfile")))
def test_real_constructs_read_as_buildkit_reads_them(name):
    text = (REAL / name).read_text()
    assert _mine(text) == _buildkit(text)
