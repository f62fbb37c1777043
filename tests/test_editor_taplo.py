"""The editor and the terminal agree: Taplo (the engine of VS Code's Even Better TOML, PyPI `taplo`)
with schema/locald.schema.json accepts what `locald validate` accepts, and flags the schema mistakes
`locald validate` reports, on the same lines.

Taplo 0.9.3 implements JSON Schema draft-07 (no 2019-09/2020-12 keywords: they would be silently
ignored, which is why the schema is draft-07 only). It cannot express the semantic checks (unknown
dependencies, cycles, port clashes, kinds): files with only those mistakes pass in the editor.

Taplo quirk worth knowing: a schema it cannot load is only a warning and the file then passes, so
every test that expects success here also proves the schema was loaded, by failing a known-bad file
the same way.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import ROOT
from locald.config import check_file
from locald.config import schema as schema_mod
from locald.config.source import TomlSyntaxError, load_file

TAPLO = ROOT / ".venv" / "bin" / "taplo"
SCHEMA = ROOT / "schema" / "locald.schema.json"
FIXTURES = Path(__file__).parent / "fixtures" / "config"
VALID = sorted((FIXTURES / "valid").glob("*.toml")) + sorted(ROOT.glob("examples/*/locald.toml"))
INVALID = sorted((FIXTURES / "invalid").glob("*.toml"))
KNOWN_BAD = FIXTURES / "invalid" / "values.toml"
LOCATION = re.compile(r"┌─ (?P<file>.+):(?P<line>\d+):(?P<col>\d+)\s*$")


@pytest.fixture(scope="module")
def taplo() -> Path:
    exe = TAPLO if TAPLO.exists() else shutil.which("taplo")
    if not exe:
        pytest.fail("taplo is missing: scripts/bootstrap installs it (pip install taplo)")
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout
    assert version.startswith("taplo "), version
    return Path(exe)


def run_taplo(taplo: Path, *files: Path, schema: bool = True, cwd: Path = ROOT) -> tuple[int, set[int], str]:
    """Exit status, the lines Taplo flags, and its output."""
    args = [str(taplo), "check", "--colors", "never", "--no-auto-config"]
    if schema:
        args += ["--schema", SCHEMA.as_uri()]
    r = subprocess.run([*args, *map(str, files)], capture_output=True, text=True, cwd=cwd, timeout=60)
    out = r.stdout + r.stderr
    assert "failed to fetch schema" not in out and "failed to load schema" not in out, out
    lines = {int(m["line"]) for m in map(LOCATION.search, out.splitlines()) if m}
    return r.returncode, lines, out


def schema_problems(path: Path):
    """What `locald validate` reports that a schema can express (no semantic checks)."""
    try:
        return schema_mod.validate(load_file(path))
    except TomlSyntaxError as exc:
        return [exc.problem]


def test_taplo_flags_a_known_bad_file(taplo):
    code, lines, out = run_taplo(taplo, KNOWN_BAD)
    assert code != 0 and lines, out


@pytest.mark.parametrize("path", VALID, ids=lambda p: str(p.relative_to(ROOT)))
def test_valid_files_pass_in_both(taplo, path):
    assert check_file(path).problems == []
    code, _, out = run_taplo(taplo, path)
    assert code == 0, out


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_files_agree(taplo, path):
    ours = schema_problems(path)
    code, lines, out = run_taplo(taplo, path)
    assert check_file(path).problems, "an invalid fixture must fail `locald validate`"
    if not ours:
        # only semantic mistakes: beyond any schema, so the editor accepts the file
        assert code == 0, out
        return
    assert code != 0, out
    missed = [str(p) for p in ours if p.line not in lines]
    assert missed == [], f"Taplo does not flag these lines:\n{out}"


def test_semantic_only_fixture_exists():
    assert any(not schema_problems(p) for p in INVALID)


def test_samples_agree(taplo, shared_compat):
    for path in sorted((shared_compat / "locald-samples").glob("*.toml")):
        code, _, out = run_taplo(taplo, path)
        assert (code == 0) == (schema_problems(path) == []), f"{path.name}:\n{out}"


def test_schema_line_is_followed(taplo, tmp_path):
    """A `#:schema` first line (then a blank line) attaches the schema without any setting;
    a relative path is resolved from the file's own directory."""
    body = KNOWN_BAD.read_text()
    rel = tmp_path / "rel" / "locald.toml"
    rel.parent.mkdir()
    shutil.copy(SCHEMA, tmp_path / "locald.schema.json")
    rel.write_text("#:schema ../locald.schema.json\n\n" + body)
    code, lines, out = run_taplo(taplo, rel, schema=False, cwd=tmp_path / "rel")
    assert code != 0 and lines, out
    # and the same file without the line passes: nothing else attached the schema
    rel.write_text(body)
    code, _, out = run_taplo(taplo, rel, schema=False)
    assert code == 0, out


def test_examples_attach_the_schema_with_a_schema_line():
    for path in sorted(ROOT.glob("examples/*/locald.toml")):
        first, second, *_ = path.read_text().splitlines() + ["", ""]
        if first.startswith("#:schema "):
            assert (path.parent / first.split(None, 1)[1]).resolve() == SCHEMA.resolve(), path
            assert second == "", f"{path}: the #:schema line must be followed by a blank line"


def test_taplo_toml_maps_every_locald_toml_to_the_schema(taplo):
    """.taplo.toml at the repository root: `taplo check` (run from the root, as editors do) applies the
    schema to every locald.toml, without any #:schema line."""
    config = (ROOT / ".taplo.toml").read_text()
    assert "**/locald.toml" in config and "schema/locald.schema.json" in config
    scratch = ROOT / f".taplo-test-{uuid.uuid4().hex[:8]}"
    try:
        (scratch / "app").mkdir(parents=True)
        target = scratch / "app" / "locald.toml"
        target.write_text(KNOWN_BAD.read_text())
        r = subprocess.run([str(taplo), "check", "--colors", "never", str(target.relative_to(ROOT))],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert r.returncode != 0 and "is not of type" in r.stderr + r.stdout, r.stderr
        target.write_text((FIXTURES / "valid" / "full.toml").read_text().split("\n", 2)[2])  # no #:schema line
        r = subprocess.run([str(taplo), "check", "--colors", "never", str(target.relative_to(ROOT))],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert r.returncode == 0, r.stderr
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
