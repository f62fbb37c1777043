"""The compose round trip (compat/roundtrip.py) on the public corpus and on our fixtures: every file
Docker Compose loads comes back equal after import → export (by-design differences aside, each one
documented in compat/README.md), and every file Docker Compose refuses is refused with a message."""

from __future__ import annotations

import shutil
import sys

import pytest

from conftest import ROOT, SHARED_COMPAT, run_locald

sys.path.insert(0, str(ROOT / "compat"))
import roundtrip  # noqa: E402

pytestmark = pytest.mark.usefixtures("engine")  # Docker Compose loads both sides

# Corpus files Docker Compose itself refuses (compat/README.md says why): the four deliberate
# negatives of VALIDATION.tsv, a compose-go schema test no single value of its variable can load,
# and a file that extends one of the negatives.
NEGATIVES = {"15", "40", "45", "46"}
COMPOSE_REFUSES = NEGATIVES | {"22", "44"}


@pytest.fixture(scope="module")
def corpus_results():
    if not SHARED_COMPAT.is_dir():
        pytest.skip(f"compatibility material not found at {SHARED_COMPAT} (it lives outside the project)")
    cases = roundtrip.corpus_cases(SHARED_COMPAT / "compose-corpus")
    return roundtrip.run(cases)


@pytest.fixture(scope="module")
def fixture_results():
    return roundtrip.run(roundtrip.directory_cases(roundtrip.FIXTURES))


@pytest.fixture(scope="module")
def adopted_results():
    cases = roundtrip.directory_cases(roundtrip.FIXTURES)
    if SHARED_COMPAT.is_dir():
        cases = roundtrip.corpus_cases(SHARED_COMPAT / "compose-corpus") + cases
    return roundtrip.run(cases, adopt=True)


def _report(results) -> str:
    return roundtrip.table(results, verbose=True)


def test_every_fixture_round_trips(fixture_results):
    assert len(fixture_results) >= 20
    supported = [r for r in fixture_results if not r.case.unsupported]
    assert all(r.status == "equal" for r in supported), _report(fixture_results)


def test_fixtures_locald_does_not_support_yet_are_refused_by_name(fixture_results):
    unsupported = [r for r in fixture_results if r.case.unsupported]
    assert [r.case.name for r in unsupported] == ["provider"]
    assert all(r.status == "unsupported" and "service 'database'" in r.message for r in unsupported), \
        _report(fixture_results)


def test_every_corpus_file_compose_loads_round_trips(corpus_results):
    assert len(corpus_results) == 50
    loaded = [r for r in corpus_results if r.case.name[:2] not in COMPOSE_REFUSES]
    assert all(r.status == "equal" for r in loaded), _report(corpus_results)
    line = roundtrip.summary(corpus_results)
    assert line.startswith("44 of 44 files round-trip"), line


def test_files_compose_refuses_are_refused_clearly(corpus_results):
    refused = {r.case.name[:2]: r for r in corpus_results if r.status == "refused"}
    assert set(refused) == COMPOSE_REFUSES, _report(corpus_results)
    for number in NEGATIVES:
        assert refused[number].case.expect_refusal  # the corpus marks it invalid too
        assert refused[number].message.startswith("Docker Compose cannot load")


@pytest.mark.parametrize("number", sorted(NEGATIVES))
def test_the_cli_refuses_each_negative_without_a_traceback(number, tmp_path, shared_compat):
    case = next(c for c in roundtrip.corpus_cases(shared_compat / "compose-corpus") if c.name.startswith(number))
    root = tmp_path / case.root.name
    shutil.copytree(case.root, root)
    done = run_locald("import", "compose", *case.files, cwd=root / case.workdir)
    assert done.returncode == 1
    assert done.stderr.startswith("locald: Docker Compose cannot load ") and "Traceback" not in done.stderr
    assert not (root / case.workdir / "locald.toml").exists()


def test_adopted_files_come_back_as_they_are(adopted_results):
    """`[compose] files` keeps the compose file as the source of truth: the export gives back every
    service as written, plus only the host gateway. A file Compose would not run (24 needs
    --no-consistency) is refused like the others."""
    refused = {r.case.name[:2] for r in adopted_results if r.status == "refused"}
    if SHARED_COMPAT.is_dir():
        assert refused == COMPOSE_REFUSES | {"24"}, _report(adopted_results)
    assert all(r.status == ("unsupported" if r.case.unsupported else "equal") for r in adopted_results
               if r.status != "refused"), _report(adopted_results)
    rules = {k for r in adopted_results for k in r.by_design}
    assert rules <= {"host-gateway"}, rules


def test_the_comparison_sees_real_differences():
    original = {"services": {"a": {"image": "x", "ports": [{"target": 80, "published": "80"}]}}}
    exported = {"services": {"a": {"image": "y", "init": True, "ports": [{"target": 80, "published": "80",
                                                                       "host_ip": "127.0.0.1"}]}}}
    diffs, counts = roundtrip.compare(original, exported, {})
    assert diffs == ['services.a.image: "x" ≠ "y"']
    assert counts == {"init": 1, "loopback": 1}


def test_every_by_design_rule_is_documented_in_the_readme():
    readme = (ROOT / "compat" / "README.md").read_text()
    rules = [r[0] for r in roundtrip.BY_DESIGN] + [roundtrip.DECLARED_RULE[0], roundtrip.RENAMED_RULE[0],
                                                   roundtrip.UNWRITTEN_RULE[0]]
    for rule in rules:
        assert f"`{rule}`" in readme, f"by-design rule {rule} is not documented in compat/README.md"


def test_the_readme_states_the_numbers_measured_now(corpus_results, fixture_results, adopted_results):
    readme = " ".join((ROOT / "compat" / "README.md").read_text().split())
    for results in (corpus_results + fixture_results, adopted_results):
        counted = roundtrip.summary(results).split(" files round-trip")[0]  # "N of M"
        assert f"**{counted} files round-trip**" in readme, roundtrip.summary(results)
