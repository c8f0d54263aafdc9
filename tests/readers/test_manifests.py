"""The manifest reader: YAML and JSON documents with line numbers, typed field access with one-line errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gates.core.errors import InputError
from gates.readers import manifests as reader


def test_json_keeps_lines_where_yaml_can_read_it_and_reads_tabs_anyway():
    doc = {"kind": "Pod", "spec": {"containers": [{"name": "a"}]}}
    located = reader.load_json_document(json.dumps(doc, indent=2), "p.json")[0]
    assert located == doc and reader.line_of(located["spec"], "containers") == 4
    tabbed = reader.load_json_document(json.dumps(doc, indent="\t"), "p.json")[0]
    assert tabbed == doc  # PyYAML refuses tab indentation: the plain JSON is used, without lines
    with pytest.raises(InputError, match=r"^p.json: line 1, column 9: invalid JSON"):
        reader.load_json_document('{"kind":}', "p.json")
    with pytest.raises(InputError, match=r"^p.json: the JSON is nested too deeply"):
        reader.load_json_document("[" * 5000 + "]" * 5000, "p.json")


def test_place_names_file_line_and_field():
    spec = reader.load_documents("spec:\n  containers:\n    - name: a\n      ports: 80\n", "d.yaml")[0][
        "spec"
    ]
    place = reader.Place("d.yaml", "Pod/p (document 1)", "spec")
    ((item_place, item),) = place.items(spec, "containers")
    assert item_place.field == "spec.containers[0]"
    with pytest.raises(InputError) as raised:
        item_place.items(item, "ports")
    assert (
        str(raised.value)
        == "d.yaml:4: Pod/p (document 1): spec.containers[0].ports: expected a list, got an integer"
    )
    assert place.get(spec, "missing", dict) is None and place.mapping(spec, "missing") == {}
    with pytest.raises(InputError, match="expected an integer, got true or false"):
        place.get({"n": True}, "n", int)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}[]:,\"'- \n\tab01#&*!|>")), max_size=60), st.booleans())
def test_any_text_gives_documents_or_a_one_line_error(text, as_json):
    try:
        docs = reader.load_json_document(text, "m.json") if as_json else reader.load_documents(text, "m.yaml")
    except InputError as exc:
        assert str(exc).startswith("m.") and "\n" not in str(exc)
    else:
        assert isinstance(docs, list)
