"""Usage mistakes on the command line: one clear sentence from click and exit status 2, never a traceback."""

from __future__ import annotations

from conftest import run_locald


def test_logs_with_a_negative_line_count(tmp_path):
    (tmp_path / "locald.toml").write_text('[project]\nname = "usage"\n\n[services.web]\ncommand = "x"\n')
    (tmp_path / ".locald" / "logs").mkdir(parents=True)
    (tmp_path / ".locald" / "logs" / "web.log").write_text("one\ntwo\nthree\n")
    r = run_locald("logs", "-n", "-5", cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "Invalid value for '-n' / '--tail': -5 is not in the range x>=0." in r.stderr
    r = run_locald("logs", "-n", "0", cwd=tmp_path)
    assert r.returncode == 0 and "one" not in r.stdout
