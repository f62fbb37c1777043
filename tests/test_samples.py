"""The original locald's own files (../shared/compat/locald-samples): each validates, or gets an error
a user can act on. compat/locald-samples.md records which and why; this test keeps it true."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT, run_locald
from locald.config import check_file

# sample -> (summary, or the one located problem: line, col, json path, start of the message)
EXPECTED = {
    "s1.toml": "1 service (1 process, 0 containers)",
    "s2.toml": "3 services (2 processes, 1 container)",
    "s3.toml": "2 services (2 processes, 0 containers)",
    "s4.toml": "2 services (1 process, 1 container)",
    "s5.toml": "1 service (0 processes, 1 container)",
    "s6.toml": "1 service (0 processes, 1 container)",
    "s7.toml": "1 service (1 process, 0 containers)",
    "s8.toml": "2 services (2 processes, 0 containers)",
    "s9.toml": "2 services (2 processes, 0 containers)",
    "s10.toml": "4 services (3 processes, 1 container)",
    "s11.toml": "2 services (2 processes, 0 containers)",
    "s12.toml": "1 service (1 process, 0 containers)",
    "s13.toml": (7, 1, "$.services.ansi-log.args",
                 "unknown key 'args': put the program and its arguments in `command`: command = [\"bash\", \"-c\", "),
    "s14.toml": (7, 15, "$.services.web.build", "`build` needs a `context` directory with a Dockerfile "
                 "(Cloud Native Buildpacks builds of the original locald are not supported)"),
    "s15.toml": "1 service (0 processes, 1 container)",
}
DOC = ROOT / "compat" / "locald-samples.md"


def samples(shared_compat):
    return sorted((shared_compat / "locald-samples").glob("*.toml"), key=lambda p: int(re.sub(r"\D", "", p.stem)))


def test_every_sample_has_an_expectation(shared_compat):
    assert [p.name for p in samples(shared_compat)] == sorted(EXPECTED, key=lambda n: int(re.sub(r"\D", "", n)))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample(shared_compat, name):
    path = shared_compat / "locald-samples" / name
    expected = EXPECTED[name]
    r = run_locald("-f", str(path), "validate")
    assert "Traceback" not in r.stderr
    if isinstance(expected, str):
        assert (r.returncode, r.stdout) == (0, f"ok: {expected}\n"), r.stderr
        return
    line, col, json_path, message = expected
    [problem] = check_file(path).problems
    assert (problem.line, problem.col, problem.path) == (line, col, json_path)
    assert problem.message.startswith(message)
    assert r.returncode == 1 and r.stderr.splitlines()[0] == f"{path}:{line}:{col}: {json_path}: {problem.message}"


def test_samples_mean_what_the_original_meant(shared_compat):
    """Beyond `ok`: the model reads each sample as the original locald did."""
    d = shared_compat / "locald-samples"
    load = lambda n: check_file(d / n).project  # noqa: E731
    s4 = load("s4.toml")
    assert s4.services["redis"].kind == "container" and s4.services["redis"].container_port == 6379  # untyped + image
    assert s4.domain == "docker.test"
    s10 = load("s10.toml")
    assert s10.services["test-postgres-3"].kind == "postgres" and s10.services["docs"].path == "docs"
    assert s10.services["dashboard"].env == {"DEMO_DB_URL": "${services.test-postgres-3.url}"}
    s11 = load("s11.toml")
    assert (s11.services["web"].kind, s11.services["worker"].kind) == ("exec", "worker")
    s12 = load("s12.toml")
    assert s12.services["web"].depends_on == () and s12.services["web"].env == {}
    s3 = load("s3.toml")
    assert s3.services["http-web"].health_check.type == "http" and s3.services["cmd-worker"].health_check.command == "test -f ready"
    s7 = load("s7.toml")
    assert s7.services["trapper"].stop_signal == "SIGINT"
    s15 = load("s15.toml")
    assert (s15.services["db"].version, s15.services["db"].port) == ("15.3.0", 54329)


def test_the_compat_record_covers_every_sample(shared_compat):
    text = DOC.read_text()
    for path in samples(shared_compat):
        assert re.search(rf"\b{re.escape(path.name)}\b", text), f"{path.name} is missing from {DOC.name}"
