"""The README and the schema never drift: every schema property (walked recursively, definitions
included) and every enumerated value appears in the README's configuration reference; the README's
TOML examples validate (or fail exactly as shown); the two commands it starts with exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import tomli

from conftest import ROOT
from locald.config import check_file
from locald.config.schema import schema

README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start: end if end > 0 else None]


REFERENCE = section("Configuration reference")


def documented_names() -> set[str]:
    """Property names as the reference writes them: `project.name`, `compose.files`, service keys by
    their own name (`command`), nested ones under their key (`health_check.interval`,
    `build.context`), and NAME for a user-chosen name (`depends_on.NAME.timeout`)."""
    doc = schema()
    names: set[str] = set()
    referred: set[str] = set()

    def walk(node, prefix: str, seen: frozenset) -> None:
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if ref:
            target = ref.rsplit("/", 1)[-1]
            referred.add(target)
            if target not in seen:
                walk(doc["definitions"][target], "" if target == "service" else prefix, seen | {target})
            return
        for name, sub in node.get("properties", {}).items():
            names.add(prefix + name)
            walk(sub, prefix + name + ".", seen)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            walk(extra, prefix + "NAME." if prefix else "", seen)
        for key in ("items",):
            walk(node.get(key), prefix, seen)
        for key in ("anyOf", "oneOf"):
            for sub in node.get(key, []):
                walk(sub, prefix, seen)

    walk(doc, "", frozenset())
    for name, definition in doc["definitions"].items():  # also definitions nothing refers to (yet)
        if name not in referred:  # a referred one is documented under the key that refers to it (`watch.paths`)
            walk(definition, "", frozenset({name}))
    return names


def enum_values(node) -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        out |= {v for v in node.get("enum", []) if isinstance(v, str)}
        for v in node.values():
            out |= enum_values(v)
    elif isinstance(node, list):
        for v in node:
            out |= enum_values(v)
    return out


def test_the_walk_finds_the_schema():
    names = documented_names()
    assert {"project.name", "compose.files", "command", "health_check.interval", "build.context",
            "depends_on.NAME.timeout", "services"} <= names
    assert len(names) > 45


@pytest.mark.parametrize("name", sorted(documented_names()))
def test_every_property_is_in_the_reference(name):
    """Each property has its own table row (or heading): being mentioned in passing is not documented."""
    row = re.search(rf"^(\| `{re.escape(name)}` \||### `{re.escape(name)}`$)", REFERENCE, re.M)
    assert row, f"schema property `{name}` has no row in README.md's configuration reference"


@pytest.mark.parametrize("value", sorted(enum_values(schema())))
def test_every_enumerated_value_is_in_the_reference(value):
    assert f"`{value}`" in REFERENCE


@pytest.mark.parametrize("definition", sorted(schema()["definitions"]))
def test_every_definition_is_explained(definition):
    assert re.search(rf"\b{definition}", REFERENCE, re.I)


def test_extension_keys_and_references_are_explained():
    assert "`x-`" in REFERENCE
    for field in ("port", "host", "url"):
        assert f"`${{services.NAME.{field}}}`" in REFERENCE


def test_the_two_commands_come_first_and_exist():
    block = section("The two commands")
    assert "scripts/up" in block and "scripts/test" in block
    assert README.index("## The two commands") < README.index("## Install")
    for script in ("scripts/up", "scripts/test", "scripts/bootstrap", "scripts/setup-docker"):
        assert os.access(ROOT / script, os.X_OK), script
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
    assert (ROOT / "examples" / "mixed" / "locald.toml").is_file() and (ROOT / "examples" / "redis" / "locald.toml").is_file()


def test_lifecycle_section_is_there():
    assert "\n## Lifecycle\n" in README


TOML_BLOCKS = re.findall(r"```toml\n(.*?)```", README, re.S)


def test_toml_blocks_are_toml():
    assert len(TOML_BLOCKS) >= 4
    for block in TOML_BLOCKS:
        tomli.loads(block)


@pytest.mark.parametrize("block", [b for b in TOML_BLOCKS if "[project]" in b], ids=lambda b: b.split("\n", 1)[0][:40])
def test_full_examples_validate_or_fail_as_shown(tmp_path, block):
    f = tmp_path / "locald.toml"
    f.write_text(block)
    (tmp_path / "schema").mkdir()
    if not block.startswith("# mistakes"):
        assert check_file(f).problems == []
        return
    shown = README[README.index(block) + len(block):]
    shown = re.search(r"```text\n(.*?)```", shown, re.S)[1]
    r = subprocess.run([sys.executable, "-m", "locald", "validate"], cwd=tmp_path, capture_output=True, text=True)
    assert (r.returncode, r.stderr) == (1, shown)


def test_editor_snippets_match_the_repository():
    block = "\n".join(line.strip() for line in section("Editors").splitlines())
    assert (ROOT / ".taplo.toml").read_text().split("[[rule]]", 1)[1].strip() in block
    assert "evenBetterToml.schema.associations" in block and "#:schema" in block
