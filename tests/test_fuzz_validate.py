"""Bad input never crashes `validate`: thousands of generated and mutated locald.toml files each get
either success or located problems, never an exception.

Three sources of input: documents built from strategies that know the schema (so most of them are
nearly valid and reach the semantic checks and the model), mutations of real files (fixtures,
examples, the original locald's samples: lines deleted, duplicated, swapped, values replaced by other
types, bytes inserted, truncated), and plain random text and bytes. The library is called directly
(`check_file` on a temporary file) for speed; a smaller sample goes through the CLI as a user runs it.

The same near-valid documents check that the wording layer (config/schema.py) neither loses nor
invents a schema error: it reports problems exactly when jsonschema's validator finds errors.
"""

from __future__ import annotations

import atexit
import datetime
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import tomli
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import ROOT, SHARED_COMPAT
from locald.config import check_file
from locald.config import schema as schema_mod
from locald.config.source import load_text

def fast(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None)

# --- render a document as TOML, in varied forms --------------------------------------------------------------

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _key(k: str) -> str:
    return k if _BARE.fullmatch(k) else _string(k)


def _string(s: str) -> str:
    out = json.dumps(s, ensure_ascii=False)  # JSON escapes are TOML escapes, except DEL must be escaped too
    return out.replace("\x7f", "\\u007f")


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    raise TypeError(type(v))


def render(doc: dict, form: int) -> str:
    """form 0: [services.NAME] tables; 1: inline services under [services]; 2: dotted keys."""
    lines = []
    tables = {k: v for k, v in doc.items() if isinstance(v, dict) and k != "services"}
    for k, v in doc.items():
        if k not in tables and k != "services":
            lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in tables.items():
        lines += ["", f"[{_key(k)}]"] + [f"{_key(a)} = {_value(b)}" for a, b in v.items()]
    services = doc.get("services")
    if services is None:
        return "\n".join(lines) + "\n"
    if not isinstance(services, dict):
        return "\n".join(lines) + f"\nservices = {_value(services)}\n"
    if form == 1:
        lines += ["", "[services]"] + [f"{_key(n)} = {_value(s)}" for n, s in services.items()]
    elif form == 2:
        lines += ["", "[services]"]
        for n, s in services.items():
            if isinstance(s, dict) and s:
                lines += [f"{_key(n)}.{_key(a)} = {_value(b)}" for a, b in s.items()]
            else:
                lines.append(f"{_key(n)} = {_value(s)}")
    else:
        others = [f"{_key(n)} = {_value(s)}" for n, s in services.items() if not isinstance(s, dict)]
        lines += ["", "[services]"] + others if others else []
        for n, s in services.items():
            if isinstance(s, dict):
                lines += ["", f"[services.{_key(n)}]"] + [f"{_key(a)} = {_value(b)}" for a, b in s.items()]
    return "\n".join(lines) + "\n"


# --- strategies that know the schema -------------------------------------------------------------------------

names = st.sampled_from(["web", "db", "api", "cache", "jobs", "w-1", "x-ext", "Web", "a.b", "", "s" * 70])
words = st.text(max_size=12)
scalars = st.one_of(st.none().map(lambda _: "x"), st.booleans(), st.integers(-2**63, 2**63 - 1),
                    st.floats(allow_nan=False), words, st.dates())
anything = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(words, inner, max_size=3)), max_leaves=8)


def maybe(strategy):
    """Mostly the right kind of value, sometimes (1 in 10) anything at all."""
    return st.integers(0, 9).flatmap(lambda n: strategy if n else anything)


durations = maybe(st.one_of(st.integers(-5, 10**6), st.floats(-1, 1e6), st.sampled_from(
    ["1s", "1m30s", "500ms", "2h", "1.5s", "10us", "1m30", "soon", "", "-1s", "1 s"])))
ports = maybe(st.one_of(st.integers(-1, 70000), st.sampled_from([3000, 3000.0, 3000.5, 0, 65535, 65536])))
conditions = st.sampled_from(["started", "healthy", "completed_successfully", "ready", ""])
commands = maybe(st.one_of(words, st.lists(words, max_size=3)))
references = st.builds(lambda pre, n, f: f"{pre}${{services.{n}.{f}}}", words, names,
                       st.sampled_from(["port", "host", "url", "addr", ""]))
dependency_specs = st.one_of(conditions, st.fixed_dictionaries({}, optional={
    "condition": conditions, "timeout": durations, "required": maybe(st.booleans()), "x-note": anything}))
services = st.fixed_dictionaries({}, optional={
    "type": maybe(st.sampled_from(["exec", "worker", "container", "postgres", "site", "docker"])),
    "command": commands,
    "workdir": maybe(words),
    "env": maybe(st.dictionaries(words, st.one_of(references, words, st.integers(), st.booleans(), anything),
                                 max_size=4)),
    "env_file": maybe(st.one_of(words, st.lists(words, max_size=2))),
    "port": ports,
    "depends_on": maybe(st.one_of(st.lists(names, max_size=3), st.dictionaries(names, dependency_specs, max_size=3))),
    "health_check": maybe(st.one_of(words, st.fixed_dictionaries({}, optional={
        "type": st.sampled_from(["http", "tcp", "command", "https"]), "path": maybe(words), "command": commands,
        "port": ports, "interval": durations, "timeout": durations, "retries": maybe(st.integers(-1, 10)),
        "start_period": durations, "x-a": anything})),
    ),
    "stop_signal": maybe(st.sampled_from(["SIGTERM", "INT", "SIGRTMIN+3", "SIGTREM", "term", "KILL"])),
    "stop_grace_period": durations,
    "restart": maybe(st.sampled_from(["no", "on-failure", "always", "never"])),
    "max_restarts": maybe(st.integers(-1, 10)),
    "path": maybe(words),
    "image": maybe(st.sampled_from(["redis:7", "postgres:15", ""])),
    "build": maybe(st.one_of(words, st.fixed_dictionaries({}, optional={
        "context": maybe(words), "dockerfile": maybe(words), "args": maybe(st.dictionaries(words, scalars))}))),
    "container_port": ports,
    "ports": maybe(st.lists(st.one_of(words, st.integers(), st.dictionaries(words, scalars)), max_size=2)),
    "volumes": maybe(st.lists(st.one_of(words, st.dictionaries(words, scalars)), max_size=2)),
    "entrypoint": commands,
    "user": maybe(words),
    "version": maybe(st.one_of(words, st.integers(), st.floats(allow_nan=False))),
    "compose": maybe(st.dictionaries(words, anything, max_size=2)),
    "x-owner": anything,
})
documents = st.fixed_dictionaries(
    {"project": maybe(st.fixed_dictionaries({"name": maybe(words)}, optional={"domain": maybe(st.sampled_from(["app.localhost", "a-b.test", "x", "-bad", ""]))}))},
    optional={
        "services": maybe(st.dictionaries(names, maybe(services), max_size=5)),
        "compose": maybe(st.fixed_dictionaries({}, optional={
            "files": maybe(st.lists(words, max_size=2)), "profiles": maybe(st.lists(words, max_size=2)),
            "networks": maybe(st.dictionaries(words, st.dictionaries(words, scalars, max_size=2), max_size=2))})),
        "x-top": anything,
    },
)


# --- the property ----------------------------------------------------------------------------------------------

_tmp = Path(tempfile.mkdtemp(prefix="locald-fuzz-"))
atexit.register(shutil.rmtree, _tmp, True)


def assert_outcome(data: bytes | str):
    """check_file gives success or located problems, and never raises."""
    f = _tmp / "locald.toml"
    if isinstance(data, str):
        f.write_text(data, encoding="utf-8")
    else:
        f.write_bytes(data)
    checked = check_file(f)
    if checked.problems:
        assert checked.project is None
        for p in checked.problems:
            assert p.line >= 1 and p.col >= 1, p
            assert p.file == checked.file and isinstance(p.message, str) and p.message
            assert p.path == "" or p.path.startswith("$"), p
            str(p)
        _event("problems")
    else:
        assert checked.project is not None
        _event("valid")
    return checked


def _event(name: str) -> None:
    try:
        event(name)  # for --hypothesis-show-statistics
    except Exception:
        pass  # called outside a hypothesis test


@fast(2000)
@given(documents, st.integers(0, 2))
def test_generated_documents(doc, form):
    text = render(doc, form)
    try:
        parsed = tomli.loads(text)
    except tomli.TOMLDecodeError:
        parsed = None  # e.g. a service named like a table that is also a key: still a fine input
    checked = assert_outcome(text)
    if parsed is not None:
        _event("parsed")
        worded = schema_mod.validate(load_text(text, "locald.toml"))
        assert bool(worded) != schema_mod.validator().is_valid(parsed), (parsed, worded)
        if worded:
            assert checked.problems


def _seed_texts() -> list[str]:
    paths = sorted((Path(__file__).parent / "fixtures" / "config").glob("*/*.toml"))
    paths += sorted(ROOT.glob("examples/*/locald.toml"))
    paths += sorted((SHARED_COMPAT / "locald-samples").glob("*.toml")) if SHARED_COMPAT.is_dir() else []
    return [p.read_text() for p in paths]


SEEDS = _seed_texts()
TYPE_SWAPS = ["1", "-1", "0", "70000", "3.5", "nan", "true", '""', '"x"', "[]", "[1, \"a\"]", "{}",
              "{ a = 1 }", "1979-05-27", "07:32:00", '"${services.web.port}"', '"1m30s"', "[[]]", '"\\u0000"']


@st.composite
def mutated(draw):
    lines = draw(st.sampled_from(SEEDS)).split("\n")
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "retype", "insert", "truncate", "char"]))
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if not lines:
            lines = [""]
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "retype" and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {draw(st.sampled_from(TYPE_SWAPS))}"
        elif op == "insert":
            lines.insert(i, draw(st.one_of(st.text(max_size=20), st.sampled_from(
                ["[services.web]", "[[services.web]]", "[services]", "x = {", '"""', "'''", "[", "]]", "a.b.c = 1",
                 "[services.db.env]", "depends_on = [\"web\"]", "port = 3000", "type = \"worker\""]))))
        elif op == "truncate":
            lines = lines[: i + 1]
            lines[-1] = lines[-1][: draw(st.integers(0, len(lines[-1])))]
        elif op == "char" and lines[i]:
            k = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:k] + draw(st.characters()) + lines[i][k + 1:]
    text = "\n".join(lines)
    if draw(st.booleans()):
        return text
    raw = text.encode("utf-8")
    k = draw(st.integers(0, len(raw)))
    return raw[:k] + draw(st.binary(max_size=6)) + raw[k:]


@fast(2000)
@given(mutated())
def test_mutated_real_files(data):
    assert_outcome(data)


@fast(500)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200),
                 st.text(alphabet='[]{}=".,#\'\n abc-_x1$', max_size=200)))
def test_random_text_and_bytes(data):
    assert_outcome(data)


@pytest.mark.parametrize("text", [
    "a = " + "[" * 3000 + "]" * 3000,                       # deep nesting: tomli's limit, not ours
    "services = " + "{ a = " * 500 + "1" + " }" * 500,
    "[services.web]\ncompose = " + "[" * 800 + "]" * 800,
    "x = 1\n" * 20000,                                      # duplicate keys, long file
    "[project]\nname = \"n\"\n" + "".join(f"[services.s{i}]\ncommand = \"x\"\ndepends_on = [\"s{i + 1}\"]\n"
                                           for i in range(2000)) + "[services.s2000]\ncommand = \"x\"\n",
    "\ufeff[project]\nname = \"bom\"\n",
    "[project]\r\nname = \"crlf\"\r\n",
    "[project]\nname = \"x\"\n[services.web]\ncommand = \"x\"\nport = 1e400\n",
    "[project]\nname = \"x\"\n[services.web]\ncommand = \"x\"\nport = -0.0\nstop_grace_period = inf\n",
])
def test_pathological_inputs(text):
    assert_outcome(text)


# --- through the CLI, as a user runs it ------------------------------------------------------------------------

_PROBLEM = re.compile(r"^[^\n]+?:\d+:\d+: .+$")


@fast(30)
@given(st.one_of(mutated(), documents.map(lambda d: render(d, 0))))
def test_cli_never_prints_a_traceback(data):
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "locald.toml"
        (f.write_bytes if isinstance(data, bytes) else f.write_text)(data)
        r = subprocess.run([sys.executable, "-m", "locald", "validate"], cwd=tmp, capture_output=True, text=True,
                           timeout=60)
    assert "Traceback" not in r.stderr
    if r.returncode == 0:
        assert r.stdout.startswith("ok: ")
    else:
        assert r.returncode == 1, r.stderr
        *problems, summary = r.stderr.splitlines()
        assert re.fullmatch(r"\d+ problems? in locald\.toml", summary), r.stderr
        assert problems and all(_PROBLEM.match(line) for line in problems), r.stderr
