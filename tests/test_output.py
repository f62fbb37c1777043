"""Printer and LogSink: prefixes, colours, partial lines, log files, many threads at once."""

from __future__ import annotations

import io
import os
import re
import threading

from locald.runtime.output import LogSink, Printer, open_sinks


def text_printer(**kw) -> tuple[Printer, io.StringIO]:
    out = io.StringIO()
    return Printer(out, **kw), out


def binary_printer(**kw) -> tuple[Printer, io.BytesIO, io.TextIOWrapper]:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    return Printer(stream, **kw), raw, stream


def test_partial_lines_wait_for_their_end(tmp_path):
    printer, out = text_printer()
    sink = LogSink("web", tmp_path, printer)
    sink.feed(b"hel")
    assert out.getvalue() == ""
    sink.feed(b"lo\nwor")
    sink.feed(b"ld\n\nlast")
    assert out.getvalue().splitlines() == ["web    | hello", "web    | world", "web    | "]
    sink.close()
    assert out.getvalue().splitlines()[-1] == "web    | last"
    assert (tmp_path / "web.log").read_bytes() == b"hello\nworld\n\nlast"
    sink.close()  # twice is fine


def test_log_file_is_raw_and_appended(tmp_path):
    first = LogSink("api", tmp_path, None)
    first.feed(b"one\r\n\xff\xfe bytes\n")
    first.close()
    second = LogSink("api", tmp_path, None)
    second.feed(b"two\n")
    second.close()
    assert (tmp_path / "api.log").read_bytes() == b"one\r\n\xff\xfe bytes\ntwo\n"
    fresh = LogSink("api", tmp_path, None, truncate=True)
    fresh.feed(b"three\n")
    fresh.close()
    assert (tmp_path / "api.log").read_bytes() == b"three\n"


def test_last_lines(tmp_path):
    sink = LogSink("job", tmp_path, None)
    sink.feed(b"".join(b"line %d\r\n" % i for i in range(500)))
    sink.feed(b"unfinished")
    assert sink.last_lines(3) == ["line 498", "line 499", "unfinished"]
    assert len(sink.last_lines(1000)) <= 201
    sink.close()


def test_note_goes_to_file_and_printer(tmp_path):
    printer, out = text_printer()
    sink = LogSink("web", tmp_path, printer)
    sink.note("exited with code 1")
    sink.close()
    assert out.getvalue() == "locald | web exited with code 1\n"
    assert (tmp_path / "web.log").read_text() == "[locald] exited with code 1\n"
    assert sink.last_lines() == []  # locald's notes are not the service's output


def test_no_file_and_print_only(tmp_path):
    printer, out = text_printer()
    sink = LogSink("db", None, printer)
    sink.feed(b"a\n")
    sink.close()
    assert out.getvalue() == "db     | a\n"
    filed = LogSink("db", tmp_path, printer)
    filed.feed(b"from the engine\n", to_file=False)
    filed.close()
    assert (tmp_path / "db.log").read_bytes() == b""


def test_width_follows_the_longest_name(tmp_path):
    printer, out = text_printer()
    sinks = open_sinks({"a": tmp_path, "long-service-name": tmp_path}, printer)
    sinks["a"].feed(b"x\n")
    printer.system("hello")
    for s in sinks.values():
        s.close()
    assert out.getvalue().splitlines() == ["a                 | x", "locald            | hello"]


def test_colour_uses_honcho_colours(tmp_path):
    printer, out = text_printer(colour=True)
    sinks = open_sinks({"web": tmp_path, "api": None}, printer)
    sinks["web"].feed(b"x\n")
    sinks["api"].feed(b"y\n")
    assert out.getvalue() == ("\033[0m\033[36mweb    | \033[0mx\n"  # cyan, then yellow: honcho's order
                              "\033[0m\033[33mapi    | \033[0my\n")
    plain, out2 = text_printer()
    assert plain.colour is False  # not a terminal


def test_colour_auto_on_a_terminal(tmp_path):
    master, slave = os.openpty()
    try:
        with open(slave, "w", closefd=True) as tty:
            assert Printer(tty).colour is True
    finally:
        os.close(master)


def test_binary_stream_and_invalid_utf8(tmp_path):
    printer, raw, stream = binary_printer()
    stream.write("before\n")  # text written first stays first
    sink = LogSink("web", tmp_path, printer)
    sink.feed(b"caf\xc3\xa9 \xff\n")
    sink.close()
    assert raw.getvalue() == b"before\nweb    | caf\xc3\xa9 \xff\n"
    printer2, out = text_printer()
    LogSink("web", None, printer2).feed(b"bad \xff\n")
    assert out.getvalue() == "web    | bad \ufffd\n"


def test_threads_never_interleave_within_a_line(tmp_path):
    printer, raw, _ = binary_printer()
    sinks = open_sinks({f"s{i}": tmp_path for i in range(4)}, printer)

    def pump(name: str) -> None:
        for i in range(2000):
            # odd chunk boundaries on purpose
            sinks[name].feed(b"%s-%d-" % (name.encode(), i))
            sinks[name].feed(b"payload\n")

    threads = [threading.Thread(target=pump, args=(n,)) for n in sinks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = raw.getvalue().decode().splitlines()
    assert len(lines) == 8000
    pattern = re.compile(r"^(s\d)     \| (s\d)-\d+-payload$")
    for line in lines:
        m = pattern.match(line)
        assert m and m.group(1) == m.group(2), line
    for name, sink in sinks.items():
        sink.close()
        assert (tmp_path / f"{name}.log").read_bytes().count(b"\n") == 2000


def test_broken_pipe_stops_printing_not_logging(tmp_path):
    r, w = os.pipe()
    os.close(r)
    stream = open(w, "w")
    printer = Printer(stream)
    sink = LogSink("web", tmp_path, printer)
    sink.feed(b"nobody reads this\n")
    assert printer.broken
    sink.feed(b"still logged\n")
    sink.close()
    assert (tmp_path / "web.log").read_bytes() == b"nobody reads this\nstill logged\n"
    try:
        stream.close()
    except BrokenPipeError:
        pass
