"""The GitOps promotion's edit of a kustomization (gates.deploy.kustomize_edit) changes the image's own lines and
nothing else. Hypothesis writes kustomizations the way people do (comments before keys and after values, lists
indented both ways in one file, flow lists, entries whose keys come in any order, `images:` absent, empty or
flow) and sets an image in them; the oracle is the dict-level `set_image` on the parsed file, and every line
outside the entry it touches must come out byte for byte."""

from __future__ import annotations

import textwrap

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gates.core import yamlsafe
from gates.deploy.kustomize_edit import set_image, set_images_text

DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "cd" * 32
NAMES = ["example/app", "other/one", "third"]
comment = st.integers(0, 10**6).map(lambda n: f"# note {n}")


@st.composite
def entry(draw, name: str, dash: int, key: int, number: int) -> tuple[list[str], bool]:
    """One image entry as lines, and whether it holds both newTag and digest (so one must go)."""
    values = {
        "newName": draw(st.sampled_from(["r/app", "ghcr.io/acme/app", "registry:5000/x/y"])),
        "newTag": draw(st.sampled_from(["v1", "'1.0'", '"2"', "latest"])),
        "digest": OTHER_DIGEST,
    }
    keys = draw(st.lists(st.sampled_from(list(values)), unique=True, max_size=3))
    order = draw(st.permutations(["name", *keys]))
    if draw(st.booleans()) and number % 3 == 2:
        inner = ", ".join(f"{k}: {name if k == 'name' else values[k]}" for k in order)
        return [" " * dash + "- {" + inner + "}"], False
    lines = []
    for i, k in enumerate(order):
        if i and draw(st.booleans()):
            lines.append(" " * key + draw(comment))
        text = f"{k}: {name if k == 'name' else values[k]}"
        if draw(st.booleans()):
            text += "  " + draw(comment)
        lead = " " * dash + "-" + " " * (key - dash - 1) if i == 0 else " " * key
        lines.append(lead + text)
    return lines, "newTag" in keys and "digest" in keys


@st.composite
def kustomization(draw) -> tuple[str, dict]:
    """A kustomization's text and where its image entries are: {name: (first line, end line)} plus the line
    after the last entry and the shape of images:."""
    keys = draw(st.permutations(["apiVersion", "kind", "namespace", "resources", "commonLabels", "images"]))
    keys = keys[: draw(st.integers(1, len(keys)))]
    lines: list[str] = []
    where: dict = {"entries": {}, "shape": "absent", "both": set()}
    for key in keys:
        if draw(st.booleans()):
            lines.append(draw(comment))
        trailing = ("  " + draw(comment)) if draw(st.booleans()) else ""
        offset = draw(st.sampled_from([0, 2]))  # `- item` under the key, or indented under it
        if key == "apiVersion":
            lines.append("apiVersion: kustomize.config.k8s.io/v1beta1" + trailing)
        elif key == "kind":
            lines.append("kind: Kustomization" + trailing)
        elif key == "namespace":
            lines.append("namespace: prod" + trailing)
        elif key == "resources":
            if draw(st.booleans()):
                lines.append("resources: [deployment.yaml, service.yaml]" + trailing)
            else:
                lines.append("resources:" + trailing)
                lines += [" " * offset + f"- {r}.yaml" for r in ("deployment", "service")]
        elif key == "commonLabels":
            lines += ["commonLabels:" + trailing, "  app: credit  # owner: risk"]
        else:
            shape = draw(st.sampled_from(["block", "block", "null", "flow"]))
            where["shape"] = shape
            if shape == "null":
                lines.append("images:" + trailing)
                where["images_line"] = len(lines) - 1
            elif shape == "flow":
                lines.append("images: []" + trailing)
                where["images_line"] = len(lines) - 1
            else:
                lines.append("images:" + trailing)
                names = draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=1, max_size=3))
                for number, name in enumerate(names):
                    if number and draw(st.booleans()):
                        lines.append(" " * offset + draw(comment))
                    first = len(lines)
                    block, both = draw(entry(name, offset, offset + 2, number))
                    lines += block
                    where["entries"][name] = (first, len(lines))
                    if both:
                        where["both"].add(name)
                where["after_last"] = len(lines)
    if draw(st.booleans()):
        lines.append(draw(comment))
    return "\n".join(lines) + "\n", where


def changed_region(old: list[str], new: list[str]) -> tuple[int, int]:
    """The old lines [start, end) that the edit replaced (common prefix and suffix removed)."""
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    tail = 0
    while tail < min(len(old), len(new)) - start and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    return start, len(old) - tail


@settings(max_examples=400, deadline=None)
@given(
    kustomization(),
    st.sampled_from(["example/app", "other/one", "new/app"]),
    st.sampled_from([f"ghcr.io/acme/app@{DIGEST}", "ghcr.io/acme/app:v9", "ghcr.io/acme/app:1.0"]),
)
def test_setting_an_image_changes_only_its_entry(generated, name, reference):
    text, where = generated
    document = yamlsafe.load(text)
    expected = yaml.safe_load(text)
    changed_expected = set_image(expected, name, reference)
    new, changes, in_place = set_images_text(text, document, {name: reference})
    assert in_place, new
    assert yamlsafe.load(new) == expected  # the same kustomization as the dict-level edit
    assert changes == ([f"{name}={reference}"] if changed_expected else [])
    if not changes:
        assert new == text
        return
    old_lines, new_lines = text.splitlines(), new.splitlines()
    start, end = changed_region(old_lines, new_lines)
    if name in where["entries"]:
        first, last = where["entries"][name]
        allowed = (first, last)
    elif where["shape"] == "block":
        allowed = (where["after_last"], where["after_last"])
    elif where["shape"] in ("null", "flow"):
        line = where["images_line"]
        allowed = (line + 1, line + 1) if where["shape"] == "null" else (line, line + 1)
    else:
        allowed = (len(old_lines), len(old_lines))
    assert allowed[0] <= start and end <= allowed[1], (start, end, allowed, text, new)
    if name in where["entries"] and name not in where["both"]:
        # nothing of the entry is deleted: each of its comments is still there
        first, last = where["entries"][name]
        for line in old_lines[first:last]:
            if "#" in line:
                assert line[line.index("#") :] in new


def test_a_typical_overlay_keeps_its_comments_and_layout():
    text = textwrap.dedent("""\
        # production overlay: reviewed by the platform team
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        namespace: credit-production   # one namespace per environment
        resources:
        - ../../base
        images:
          # the model service; mlgate promotes it
          - name: mlgate/credit-model
            newName: ghcr.io/acme/credit-model  # mirror
            newTag: v41  # last good: v40
          - name: busybox
            newTag: "1.36"
        patches:
          - path: replicas.yaml   # three in production
        """)
    new, changes, in_place = set_images_text(
        text, yamlsafe.load(text), {"mlgate/credit-model": f"ghcr.io/acme/credit-model@{DIGEST}"}
    )
    assert in_place and changes == [f"mlgate/credit-model=ghcr.io/acme/credit-model@{DIGEST}"]
    assert new == text.replace("newTag: v41  # last good: v40", f"digest: {DIGEST}  # last good: v40")


def test_a_layout_it_cannot_edit_in_place_is_written_whole_never_wrong():
    text = "{resources: [a.yaml], images: [{name: x, newTag: v1}]}  # flow document\n"
    new, changes, in_place = set_images_text(text, yamlsafe.load(text), {"x": "r/x:v2"})
    assert not in_place and changes == ["x=r/x:v2"]
    assert yamlsafe.load(new) == {
        "resources": ["a.yaml"],
        "images": [{"name": "x", "newName": "r/x", "newTag": "v2"}],
    }
