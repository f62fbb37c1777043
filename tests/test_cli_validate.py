"""`locald validate` and `locald schema` as a user runs them: a subprocess, real files.

Invalid fixtures carry their expectations: `# error: FRAGMENT` at the end of a line says `validate`
reports a problem on that line whose `$.path: message` contains FRAGMENT (several markers: several
problems). Every problem must be expected, and every expectation met.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_locald

FIXTURES = Path(__file__).parent / "fixtures" / "config"
VALID = sorted((FIXTURES / "valid").glob("*.toml"))
INVALID = sorted((FIXTURES / "invalid").glob("*.toml"))
EXAMPLES = sorted(ROOT.glob("examples/*/locald.toml"))
LINE = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<rest>.+)$")


def expectations(path: Path) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split("# error:")[1:]
        if parts:
            out[n] = [p.strip() for p in parts]
    return out


def test_fixtures_exist():
    assert len(VALID) >= 4 and len(INVALID) >= 8


@pytest.mark.parametrize("path", VALID + EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_valid_files_print_a_summary(path):
    r = run_locald("-f", str(path), "validate")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"ok: \d+ services? \(\d+ process(es)?, \d+ containers?\)\n", r.stdout)
    assert r.stderr == ""


def test_summary_counts(tmp_path):
    (tmp_path / "locald.toml").write_text(
        '[project]\nname = "c"\n[services]\na = { command = "x" }\nb = { type = "worker", command = "x" }\n'
        'c = { type = "site" }\nd = { image = "redis:7" }\ne = { type = "postgres" }\n')
    r = run_locald("validate", cwd=tmp_path)
    assert r.stdout == "ok: 5 services (3 processes, 2 containers)\n"
    (tmp_path / "locald.toml").write_text('[project]\nname = "c"\n[services]\na = { image = "redis:7" }\n')
    assert run_locald("validate", cwd=tmp_path).stdout == "ok: 1 service (0 processes, 1 container)\n"


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_files_report_every_mistake_at_its_line(path):
    r = subprocess.run([sys.executable, "-m", "locald", "-f", path.name, "validate"], cwd=path.parent,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    *lines, last = r.stderr.splitlines()
    expected = expectations(path)
    assert last == f"{len(lines)} problem{'s' if len(lines) != 1 else ''} in {path.name}"
    assert len(lines) == sum(len(v) for v in expected.values()), r.stderr
    unmet = {n: list(frags) for n, frags in expected.items()}
    for line in lines:
        m = LINE.match(line)
        assert m, f"not FILE:LINE:COL: message: {line}"
        assert m["file"] == path.name
        n = int(m["line"])
        assert n in unmet, f"unexpected problem: {line}"
        hit = next((f for f in unmet[n] if f in m["rest"]), None)
        assert hit is not None, f"line {n}: {m['rest']!r} matches none of {unmet[n]}"
        unmet[n].remove(hit)
        if m["rest"].startswith("$"):
            assert re.match(r"^\$[^:]*: \S", m["rest"]), line  # `$.json.path: message`
    assert not any(unmet.values()), unmet


def test_json_format_for_tools(tmp_path):
    path = FIXTURES / "invalid" / "values.toml"
    r = run_locald("-f", str(path), "validate", "--format", "json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["valid"] is False and doc["summary"] is None and doc["file"].endswith("values.toml")
    assert len(doc["problems"]) == sum(len(v) for v in expectations(path).values())
    first = doc["problems"][0]
    assert set(first) == {"file", "line", "column", "path", "message"}
    assert (first["line"], first["column"], first["path"]) == (6, 1, "$.services.web.command")

    r = run_locald("-f", str(FIXTURES / "valid" / "inline.toml"), "validate", "--format", "json")
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    assert doc["valid"] is True and doc["problems"] == []
    assert doc["summary"] == "3 services (2 processes, 1 container)"


def test_default_file_and_env_var(tmp_path):
    (tmp_path / "locald.toml").write_text('[project]\nname = "d"\n')
    assert run_locald("validate", cwd=tmp_path).returncode == 0
    (tmp_path / "other.toml").write_text('[project]\nnam = "d"\n')
    r = run_locald("validate", cwd=tmp_path, env={"LOCALD_FILE": "other.toml", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 1 and "other.toml:2:1: $.project.nam: unknown key 'nam' (did you mean 'name'?)" in r.stderr


def test_missing_file(tmp_path):
    r = run_locald("validate", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == "locald.toml: no such file (name another with -f PATH)"
    assert "Traceback" not in r.stderr


def test_file_outside_the_working_directory_is_named_in_full(tmp_path):
    f = tmp_path / "locald.toml"
    f.write_text('[project]\nname = 1\n')
    r = run_locald("-f", str(f), "validate", cwd=ROOT)
    assert r.stderr.splitlines()[0] == f"{f}:2:1: $.project.name: expected a string, got the number 1"


def test_schema_command_prints_the_schema():
    r = run_locald("schema")
    assert r.returncode == 0
    assert json.loads(r.stdout) == json.loads((ROOT / "schema" / "locald.schema.json").read_text())


def test_help_lists_validate_and_schema():
    r = run_locald("--help")
    assert r.returncode == 0
    assert re.search(r"^\s+validate\s", r.stdout, re.M) and re.search(r"^\s+schema\s", r.stdout, re.M)
    assert "--format" in run_locald("validate", "--help").stdout


@pytest.mark.parametrize("args, validates", [(["--help"], False), (["--version"], False), (["validate"], True),
                                             (["validate", "--format", "json"], True), (["schema"], False)])
def test_light_commands_import_only_what_they_use(args, validates):
    """python_on_whales costs ~180 ms (pydantic): only the container runtime may import it. jsonschema
    (~40 ms) is imported by the commands that validate, and by no other. aiohttp and cryptography load
    in the named-URL proxy's own process only."""
    f = FIXTURES / "valid" / "full.toml"
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "locald", "-f", str(f), *args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert len(imported) > 20  # -X importtime worked
    assert {m for m in imported
            if m.split(".")[0] in ("python_on_whales", "pydantic", "aiohttp", "cryptography")} == set()
    assert ("jsonschema" in imported) == validates
