"""Every reader of user YAML (policy, data schema, manifests for the security gate and for deploy, kubeconfig)
goes through gates.core.yamlsafe: a duplicate key or an alias bomb is exit 2 naming the file, never the last value."""

from __future__ import annotations

import pytest

from gates.core.errors import InputError

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  name: other
spec:
  replicas: 1
"""


def bomb(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [" + ",".join([f"*l{n - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_data_gate_schema_file(tmp_path):
    from gates.data import load_schema

    path = tmp_path / "schema.yml"
    path.write_text("columns:\n  a: {type: integer}\n  a: {type: string}\n")
    with pytest.raises(InputError) as raised:
        load_schema(path)
    assert str(raised.value) == (
        f"{path}: cannot read the schema (duplicate key 'a' at line 3 (first at line 2))"
    )


def test_security_manifests_reader(tmp_path):
    from gates.readers.manifests import load_documents

    with pytest.raises(InputError) as raised:
        load_documents("kind: Namespace\n---\n" + DEPLOYMENT, "k8s/web.yaml")
    assert str(raised.value) == (  # lines count in the whole file, across its documents
        "k8s/web.yaml: line 7, column 3: duplicate key 'name' at line 7 (first at line 6)"
    )
    with pytest.raises(InputError, match="alias bomb"):
        load_documents(bomb(), "k8s/bomb.yaml")
    # line numbers still work through the strict loader
    docs = load_documents("a: 1\n---\nkind: Pod\nspec: {x: 1}\n", "ok.yaml")
    assert docs[1].key_lines == {"kind": 3, "spec": 4}


def test_security_gate_from_the_cli(cli, tmp_path):
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "web.yaml").write_text(DEPLOYMENT)
    result = cli("security", "--manifests", "k8s")
    assert result.code == 2, result.stdout + result.stderr
    assert len(result.stderr_lines) == 1
    assert "duplicate key 'name' at line 5 (first at line 4)" in result.stderr_lines[0]


def test_deploy_renderer_reads_manifests_and_patches_strictly(tmp_path):
    from gates.deploy.render import render

    (tmp_path / "kustomization.yaml").write_text("resources: [web.yaml]\n")
    (tmp_path / "web.yaml").write_text(DEPLOYMENT)
    with pytest.raises(InputError) as raised:
        render(tmp_path)
    assert "web.yaml" in str(raised.value)
    assert "duplicate key 'name' at line 5 (first at line 4)" in str(raised.value)
    (tmp_path / "web.yaml").write_text(DEPLOYMENT.replace("  name: other\n", ""))
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [web.yaml]\npatches:\n- patch: |\n    kind: Deployment\n    metadata: {name: web}\n"
        "    spec: {replicas: 2, replicas: 3}\n"
    )
    with pytest.raises(InputError, match=r"duplicate key 'replicas' at line 3 \(first at line 3\)"):
        render(tmp_path)


def test_kubeconfig(tmp_path):
    from gates.deploy.kube_connect import _parse_kubeconfig

    path = tmp_path / "config"
    path.write_text("apiVersion: v1\ncurrent-context: a\ncurrent-context: b\n")
    # the kubeconfig reader names a position, never the file's contents (it may hold tokens)
    with pytest.raises(InputError, match=r"^kubeconfig .*config: not valid YAML \(line 3, column 1\)$"):
        _parse_kubeconfig(path)
