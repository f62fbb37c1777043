"""Env files: one reader (locald/config/envfile.py) for `validate` and for the process runtime. A line
honcho's parser cannot read is a problem at that line of the env file, in `validate` and in `up`,
never a traceback."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from honcho.environ import parse as honcho_parse

from conftest import run_locald
from locald.config import check_file, envfile
from locald.errors import LocaldError

OBRIEN = ("the quote ' is never closed (.env lines are read as shell words): "
          "put the value in double quotes (LAST_NAME=\"…\")")


def project(tmp_path, services: str, **files: str):
    (tmp_path / "locald.toml").write_text('[project]\nname = "env"\n\n' + textwrap.dedent(services))
    for name, text in files.items():
        (tmp_path / name.replace("_", ".")).write_text(text)
    return tmp_path / "locald.toml"


def problems(tmp_path) -> list[str]:
    return [str(p) for p in check_file(tmp_path / "locald.toml").problems]


def test_validate_reports_an_unreadable_line_at_the_env_files_own_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    project(tmp_path, '[services.api]\ncommand = "x"\nenv_file = ".env.local"\n',
            _env_local="FIRST_NAME=Pat\nLAST_NAME=O'Brien\n")
    assert problems(tmp_path) == [f".env.local:2:12: {OBRIEN}"]


def test_up_says_the_same_sentence_instead_of_a_traceback(tmp_path):
    project(tmp_path, '[services.api]\ncommand = "sleep 60"\nenv_file = ".env.local"\n',
            _env_local="LAST_NAME=O'Brien\n")
    r = run_locald("up", "-d", cwd=tmp_path, timeout=60)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert f".env.local:1:12: {OBRIEN}" in r.stderr


def test_the_runtime_reader_reports_the_file_and_line(tmp_path):
    env = tmp_path / "x.env"
    env.write_text('A=1\nB="unclosed\n')
    with pytest.raises(LocaldError) as exc:
        envfile.load(env)
    assert str(exc.value) == (f"{env}:2:3: the quote \" is never closed (.env lines are read as shell words): "
                              "put the value in single quotes (B='…')")
    assert "unclosed" not in str(exc.value)  # env files hold secrets: the value is never repeated


def test_the_projects_dot_env_is_checked_when_processes_read_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    project(tmp_path, '[services.api]\ncommand = "x"\n', _env="PASSWORD=it's\n")
    assert problems(tmp_path) == [".env:1:12: the quote ' is never closed (.env lines are read as shell words): "
                                  "put the value in double quotes (PASSWORD=\"…\")"]
    project(tmp_path, '[services.db]\nimage = "redis:7"\n', _env="PASSWORD=it's\n")
    assert problems(tmp_path) == []  # no host process reads it


def test_containers_env_files_are_compose_business(tmp_path):
    """Compose reads a container's env_file with its own rules, where O'Brien is fine."""
    project(tmp_path, '[services.db]\nimage = "redis:7"\nenv_file = ["db.env"]\n', db_env="LAST_NAME=O'Brien\n")
    assert problems(tmp_path) == []


def test_a_missing_env_file_is_left_to_up(tmp_path):
    """It may hold secrets a checkout or CI does not have: `up` reports it (with the path it looked for)."""
    project(tmp_path, '[services.api]\ncommand = "x"\nenv_file = ["absent.env", "a\\u0000b"]\n')
    assert [p for p in problems(tmp_path) if "absent" in p] == []


def test_a_trailing_backslash_and_a_nul_byte(tmp_path):
    values, found = envfile.parse("A=ok\nB=x\\\nC=a\0b\n", "e.env")
    assert values == {"A": "ok"}
    assert [str(p) for p in found] == [
        "e.env:2:4: the line ends with a backslash that escapes nothing (.env lines are read as shell words)",
        "e.env:3:4: the value of C contains a NUL byte, which no environment can hold"]


def test_a_quote_that_cannot_simply_be_wrapped_is_escaped():
    [problem] = envfile.parse('TITLE=it\'s "big"\n', "e.env")[1]
    assert (problem.col, problem.message) == (9, "the quote ' is never closed (.env lines are read as shell words): "
                                                 "escape it as \\'")


def test_columns_count_an_export_prefix():
    [problem] = envfile.parse("  export NAME=O'Brien\n", "e.env")[1]
    assert (problem.line, problem.col) == (1, 16)


def test_export_prefix_comments_and_a_bom_are_read(tmp_path):
    values, found = envfile.parse("\ufeffexport A=1\n  export B='two words'\n# C=3\nD=\"x#y\" # note\n", "e.env")
    assert (values, found) == ({"A": "1", "B": "two words", "D": "x#y"}, [])


def test_an_env_file_that_is_no_file_is_reported_where_locald_toml_names_it(tmp_path, monkeypatch):
    """Found by tests/test_fuzz_validate.py: `env_file = ""` names the project directory."""
    monkeypatch.chdir(tmp_path)
    project(tmp_path, '[services.api]\ncommand = "x"\nenv_file = ["ok.env", ""]\n', ok_env="A=1\n")
    assert problems(tmp_path) == ["locald.toml:6:23: $.services.api.env_file[1]: env file . is a directory, "
                                  "not a regular file"]


def test_a_device_as_env_file_is_one_sentence(tmp_path):
    with pytest.raises(LocaldError, match="/dev/zero: is a character device, not a regular file"):
        envfile.load(envfile.Path("/dev/zero"))


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(st.text(alphabet="AB_=' \"\\#x\t\r$", max_size=12), max_size=4))
def test_lines_honcho_reads_give_honchos_values(lines):
    """The reader is honcho's: where honcho reads a line, the values are honcho's."""
    text = "\n".join(lines)
    values, found = envfile.parse(text, "e.env")
    try:
        expected = honcho_parse(text)
    except ValueError:
        assert found  # honcho cannot read the file: a located problem says which line
        return
    assert (values, found) == (expected, [])
