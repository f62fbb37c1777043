"""The loader: tomli for the data, our scanner for where every key is (line, column, 1-based)."""

from __future__ import annotations

import os

import pytest

from locald.config import check_file
from locald.config.source import TomlSyntaxError, load_file, load_text, scan_positions


def positions(text: str) -> dict:
    return scan_positions(text)


def test_table_form_points_at_keys_and_headers():
    p = positions('[project]\nname = "x"\n\n[services.web]\ncommand = "a"\n  port = 3000\n')
    assert p[("project",)] == (1, 2)
    assert p[("project", "name")] == (2, 1)
    assert p[("services",)] == (4, 2)
    assert p[("services", "web")] == (4, 11)
    assert p[("services", "web", "command")] == (5, 1)
    assert p[("services", "web", "port")] == (6, 3)


def test_inline_form():
    text = '[services]\nweb = { command = "a", env = { A = "1" }, depends_on = ["db", "cache"] }\n'
    p = positions(text)
    line = text.splitlines()[1]
    assert p[("services", "web")] == (2, 1)
    assert p[("services", "web", "command")] == (2, line.index("command") + 1)
    assert p[("services", "web", "env", "A")] == (2, line.index("A =") + 1)
    assert p[("services", "web", "depends_on")] == (2, line.index("depends_on") + 1)
    assert p[("services", "web", "depends_on", 0)] == (2, line.index('"db"') + 1)
    assert p[("services", "web", "depends_on", 1)] == (2, line.index('"cache"') + 1)


def test_dotted_and_quoted_keys():
    text = '[services]\napi.command = "b"\napi . port = 3000\n"my api".command = \'c\'\n[services."odd.name"]\nx = 1\n'
    p = positions(text)
    assert p[("services", "api")] == (2, 1)
    assert p[("services", "api", "command")] == (2, 5)
    assert p[("services", "api", "port")] == (3, 7)
    assert p[("services", "my api")] == (4, 1)
    assert p[("services", "my api", "command")] == (4, 10)
    assert p[("services", "odd.name")] == (5, 11)
    assert p[("services", "odd.name", "x")] == (6, 1)


def test_arrays_over_lines_with_comments():
    text = 'deps = [\n  "a",  # first, "quoted", [bracket]\n\n  "b",\n]\nafter = 1\n'
    p = positions(text)
    assert p[("deps", 0)] == (2, 3)
    assert p[("deps", 1)] == (4, 3)
    assert p[("after",)] == (6, 1)


def test_nested_arrays_and_tables_in_arrays():
    text = 'v = [[1, 2], [3]]\nw = [{ a = 1 }, { b = [true] }]\n'
    p = positions(text)
    assert p[("v", 1, 0)] == (1, 15)
    assert p[("w", 1, "b", 0)] == (2, 24)


def test_array_of_tables_including_nested():
    text = "[[a]]\nx = 1\n[[a.b]]\ny = 1\n[[a]]\nx = 2\n[a.c]\nz = 1\n[[a.b]]\ny = 2\n[[a.b]]\ny = 3\n"
    p = positions(text)
    assert p[("a", 0)] == (1, 1)
    assert p[("a", 0, "b", 0, "y")] == (4, 1)
    assert p[("a", 1)] == (5, 1)
    assert p[("a", 1, "c", "z")] == (8, 1)
    assert p[("a", 1, "b", 1)] == (11, 1)
    assert p[("a", 1, "b", 1, "y")] == (12, 1)


def test_multiline_strings_do_not_shift_later_keys():
    text = ('a = """\nx = 1\n[not.a.table]\nends with quotes ""\\"""""\nb = 2\n'
            "c = '''\n[[also not]]\n'''\nd = 3\n")
    p = positions(text)
    assert set(p) == {("a",), ("b",), ("c",), ("d",)}
    assert p[("b",)] == (5, 1)
    assert p[("d",)] == (9, 1)


def test_strings_with_escapes_and_hashes():
    text = 'a = "x # not a comment \\" ] }"\nb = \'lit # \\\'\nc = 1\n'
    p = positions(text)
    assert p[("b",)] == (2, 1)
    assert p[("c",)] == (3, 1)


def test_datetimes_with_a_space_are_one_value():
    text = "a = [1979-05-27 07:32:00, 2]\nb = 1979-05-27T07:32:00Z\nc = 1\n"
    p = positions(text)
    assert p[("a", 1)] == (1, 27)
    assert p[("c",)] == (3, 1)


def test_crlf_line_endings():
    text = '[project]\r\nname = "x"\r\n[services.web]\r\ncommand = "a"\r\n'
    p = positions(text)
    assert p[("services", "web", "command")] == (4, 1)


def test_locate_falls_back_to_the_nearest_ancestor():
    source = load_text('[services.web]\ncommand = "a"\n', "f.toml")
    assert source.positions is None  # scanned only when something must be located
    assert source.locate(("services", "web", "command", 3)) == (2, 1)
    assert source.locate(("nothing", "here")) == (1, 1)


def test_positions_are_never_an_exception():
    # a scanner failure must not hide the real problem: no positions, then (1, 1)
    assert isinstance(positions("[" * 5000), dict)
    assert isinstance(positions("a = " + "[" * 5000 + "]" * 5000), dict)


@pytest.mark.parametrize(
    "text, line, col, fragment",
    [
        ('[project]\nname = "x\n', 2, 10, "TOML syntax error"),
        ("[project]\nname = \n", 2, 8, "TOML syntax error"),
        ('[services.web]\ncommand = "a"\n[services.web]\n', 3, 14, "TOML syntax error"),
        ("a = { b = 1 c = 2 }\n", 1, 13, "TOML syntax error: Unclosed inline table"),
        ("[project]\nname = 1\nname = 2\n", 3, 9, "TOML syntax error: Cannot overwrite a value"),
        ("x = [1, 2\ny = 3\n", 2, 1, "TOML syntax error: Unclosed array"),
    ],
)
def test_syntax_errors_are_located(tmp_path, text, line, col, fragment):
    f = tmp_path / "locald.toml"
    f.write_text(text)
    checked = check_file(f)
    assert checked.project is None
    [problem] = checked.problems
    assert (problem.line, problem.col) == (line, col)
    assert problem.message.startswith(fragment)
    assert str(problem).startswith(f"{checked.file}:{line}:{col}: TOML syntax error")


def test_syntax_error_message_has_no_position_suffix(tmp_path):
    f = tmp_path / "locald.toml"
    f.write_text('name = "x\n')
    [problem] = check_file(f).problems
    assert "(at line" not in problem.message


def test_missing_file_and_bad_encoding(tmp_path):
    with pytest.raises(TomlSyntaxError) as exc:
        load_file(tmp_path / "nope.toml", "nope.toml")
    assert "no such file" in str(exc.value.problem)
    f = tmp_path / "latin.toml"
    f.write_bytes(b'[project]\nname = "caf\xe9"\n')
    [problem] = check_file(f).problems
    assert problem.line == 2 and "not valid UTF-8" in problem.message


@pytest.mark.parametrize("special, kind", [("/dev/zero", "a character device"), ("/dev/null", "a character device")])
def test_a_device_is_one_sentence_not_a_memory_error(special, kind):
    [problem] = check_file(special).problems
    assert (problem.line, problem.path) == (0, "")
    assert problem.message == f"is {kind}, not a regular file (name a locald.toml with -f PATH)"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "locald.toml"
    os.mkfifo(fifo)
    [problem] = check_file(fifo).problems  # would block forever on open() if it were opened
    assert problem.message.startswith("is a pipe, not a regular file")


def test_a_directory_and_a_huge_file(tmp_path):
    [problem] = check_file(tmp_path).problems
    assert problem.message.startswith("is a directory, not a regular file")
    huge = tmp_path / "huge.toml"
    with open(huge, "wb") as fh:
        fh.truncate(16 * 2**20 + 1)  # sparse: no disk used
    [problem] = check_file(huge).problems
    assert problem.message.startswith("is larger than 16 MiB")


def test_a_byte_order_mark_is_named(tmp_path):
    """Refused, as Taplo (the editor) and tomllib refuse it: terminal and editor agree on the same file."""
    f = tmp_path / "locald.toml"
    f.write_bytes(b'\xef\xbb\xbf[project]\nname = "bom"\n')
    [problem] = check_file(f).problems
    assert (problem.line, problem.col) == (1, 1)
    assert "byte order mark (BOM)" in problem.message and "save it as UTF-8 without BOM" in problem.message
