"""`watch` without an engine: the rules on real files (what a change concerns, what is left out, where a
sync puts it), the watchfiles loop on a real directory (one action per save), validation at the key's
line, and the compose mapping both ways."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from locald.compose.mapping import watch_rules
from locald.config import check_file, load_project
from locald.runtime.watching.rules import Change, Rules
from locald.runtime.watching.watcher import Watcher


def project(tmp_path: Path, services: str):
    (tmp_path / "locald.toml").write_text('[project]\nname = "w"\n\n' + services)
    return load_project(tmp_path / "locald.toml")


def touch(root: Path, *names: str) -> list[Path]:
    out = []
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
        out.append(path)
    return out


def routed(rules: Rules, paths) -> list[tuple[str, str, list[str]]]:
    root = rules.root
    return [(s, a, [c.path.relative_to(root).as_posix() + (f" -> {c.target}" if c.target else "") for c in changes])
            for s, a, changes in rules.route(paths)]


# --- rules ---------------------------------------------------------------------------------------------

def test_a_glob_concerns_what_it_matches_below_its_base(tmp_path):
    p = project(tmp_path, '[services.web]\ncommand = "x"\nwatch = ["src/**/*.py", "templates", "top/*.cfg"]\n')
    files = touch(tmp_path, "src/app.py", "src/a/b/c.py", "src/readme.md", "templates/x.html", "top/a.cfg",
                  "top/deeper/b.cfg", "other.py")
    assert routed(Rules(p, ["web"]), files) == [
        ("web", "restart", ["src/a/b/c.py", "src/app.py", "templates/x.html", "top/a.cfg"])]


def test_left_out_by_default_ignore_and_gitignore(tmp_path):
    (tmp_path / ".gitignore").write_text("*.log\nbuild/\n")
    touch(tmp_path, "src/.gitignore")
    (tmp_path / "src" / ".gitignore").write_text("local.py\n!keep.log\n")
    p = project(tmp_path, '[services.web]\ncommand = "x"\nwatch = { paths = "src", ignore = ["*.tmp", "/gen"] }\n')
    ignored = touch(tmp_path, "src/.app.py.swp", "src/4913", "src/app.py~", "src/__pycache__/app.cpython-311.pyc",
                    "src/.git/HEAD", "src/x.tmp", "src/deep/y.tmp", "src/gen/out.py", "src/a.log",
                    "src/build/out.js", "src/local.py", ".locald/logs/web.log")
    kept = touch(tmp_path, "src/app.py", "src/deep/gen/ok.py", "src/keep.log")
    assert routed(Rules(p, ["web"]), ignored) == []
    assert routed(Rules(p, ["web"]), ignored + kept) == [
        ("web", "restart", ["src/app.py", "src/deep/gen/ok.py", "src/keep.log"])]


def test_gitignore_false_and_a_watched_path_git_ignores(tmp_path):
    (tmp_path / ".gitignore").write_text("*.log\ndist/\n")
    p = project(tmp_path, '[services.a]\ncommand = "x"\nwatch = { paths = "src", gitignore = false }\n'
                          '[services.b]\ncommand = "x"\nwatch = ["dist"]\n')
    files = touch(tmp_path, "src/a.log", "dist/bundle.js", "dist/x.log")
    # b names dist/ itself: .gitignore does not hide it, and so it does not hide what is below it either
    assert routed(Rules(p, ["a", "b"]), files) == [("a", "restart", ["src/a.log"]),
                                                   ("b", "restart", ["dist/bundle.js", "dist/x.log"])]


def test_the_repository_top_is_found_above_the_project(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "info").mkdir()
    (tmp_path / ".git" / "info" / "exclude").write_text("*.secret\n")
    (tmp_path / ".gitignore").write_text("app/src/gen/\n")
    root = tmp_path / "app"
    root.mkdir()
    p = project(root, '[services.web]\ncommand = "x"\nwatch = ["src"]\n')
    files = touch(root, "src/gen/a.py", "src/k.secret", "src/ok.py")
    assert routed(Rules(p, ["web"]), files) == [("web", "restart", ["src/ok.py"])]


def test_sync_targets_directories_and_the_order_of_actions(tmp_path):
    p = project(tmp_path, '''
[services.box]
build = "."
watch = [
  { paths = "web/src", action = "sync", target = "/app/src", ignore = ["*.tmp"] },
  { paths = "conf/app.ini", action = "sync+restart", target = "/etc/app.ini" },
  { paths = ["Dockerfile"], action = "rebuild" },
]
[services.api]
command = "x"
watch = ["api"]
''')
    touch(tmp_path, "web/src/new/a.js", "web/src/new/b.tmp", "web/src/new/deep/c.js")
    files = [tmp_path / "web/src/new", *touch(tmp_path, "conf/app.ini", "Dockerfile", "api/main.py")]
    gone = tmp_path / "web/src/old.js"
    assert routed(Rules(p, ["box", "api"]), [*files, gone]) == [
        ("box", "rebuild", ["Dockerfile"]),
        ("box", "sync", ["conf/app.ini -> /etc/app.ini", "web/src/new -> /app/src/new",
                         "web/src/new/a.js -> /app/src/new/a.js", "web/src/new/deep -> /app/src/new/deep",
                         "web/src/new/deep/c.js -> /app/src/new/deep/c.js", "web/src/old.js -> /app/src/old.js"]),
        # no restart after a rebuild: the container is new
        ("api", "restart", ["api/main.py"])]


def test_roots_are_existing_directories_none_inside_another(tmp_path):
    p = project(tmp_path, '[services.web]\ncommand = "x"\nwatch = ["src/**/*.py", "src/sub", "later/x", "f.txt"]\n')
    touch(tmp_path, "src/sub/a.py", "f.txt")
    assert Rules(p, ["web"]).roots() == [tmp_path]  # later/ does not exist yet; f.txt's directory is the root


# --- the loop on a real directory -------------------------------------------------------------------

class Recorder:
    def __init__(self):
        self.calls: list[tuple[str, str, list[Change]]] = []
        self.event = threading.Event()

    def __call__(self, service, action, changes):
        self.calls.append((service, action, changes))
        self.event.set()

    def next(self) -> tuple[str, str, list[Change]]:
        assert self.event.wait(10), f"no action after 10 s (so far: {self.calls})"
        self.event.clear()
        return self.calls[-1]


def test_a_save_of_ten_files_acts_once(tmp_path):
    p = project(tmp_path, '[services.web]\ncommand = "x"\nwatch = ["src"]\n')
    touch(tmp_path, "src/keep")
    record = Recorder()
    watcher = Watcher(p, ["web"], record).start()
    try:
        touch(tmp_path, *[f"src/m{i}.py" for i in range(10)])
        service, action, changes = record.next()
        assert (service, action, len({c.path for c in changes})) == ("web", "restart", 10)
        touch(tmp_path, "src/one-more.py")  # a later save is the next call: the ten made exactly one
        assert [c.path.name for c in record.next()[2]] == ["one-more.py"]
        assert len(record.calls) == 2
    finally:
        watcher.stop()
    assert not watcher._thread.is_alive()


def test_a_failing_action_does_not_stop_the_watcher(tmp_path):
    p = project(tmp_path, '[services.web]\ncommand = "x"\nwatch = ["src"]\n')
    (tmp_path / "src").mkdir()
    record = Recorder()
    errors = []

    def on_change(service, action, changes):
        record(service, action, changes)
        if len(record.calls) == 1:
            raise RuntimeError("boom")

    watcher = Watcher(p, ["web"], on_change, on_error=errors.append).start()
    try:
        touch(tmp_path, "src/a.py")
        record.next()
        touch(tmp_path, "src/b.py")
        assert [c.path.name for c in record.next()[2]] == ["b.py"]
    finally:
        watcher.stop()
    assert errors == ["watch: web restart failed (RuntimeError: boom)"]


# --- validation and model ------------------------------------------------------------------------------

def test_the_model_of_every_form(tmp_path):
    p = project(tmp_path, '''
[services.a]
command = "x"
watch = ["src", "lib/**/*.py", { paths = "conf", ignore = "*.bak", gitignore = false }]
[services.b]
image = "redis:7"
watch = { paths = ["data"], action = "sync", target = "/data" }
''')
    a, b = p.services["a"].watch, p.services["b"].watch
    assert [(r.paths, r.action, r.ignore, r.gitignore) for r in a] == [
        (("src", "lib/**/*.py"), "restart", (), True), (("conf",), "restart", ("*.bak",), False)]
    assert [(r.paths, r.action, r.target) for r in b] == [(("data",), "sync", "/data")]


@pytest.mark.parametrize("watch, where, message", [
    ('{ paths = "src", action = "sync", target = "/app" }', "$.services.api.watch.action",
     'action = "sync" is for containers: a host process reads its files where they are; use "restart"'),
    ('[{ paths = "src", action = "rebuild" }]', "$.services.api.watch[0].action",
     'action = "rebuild" is for containers: a host process has no image to build; use "restart"'),
    ('{ paths = "src", target = "/app" }', "$.services.api.watch.target",
     '`target` is only for action = "sync" or "sync+restart" (this rule\'s action is "restart")'),
    ('["src", { paths = "x", ignore = ["a\\\\"] }]', "$.services.api.watch[1].ignore[0]",
     "'a\\' is not a pattern git can read (a lone `!`, a trailing `\\`)"),
    ('{ paths = "src", actoin = "sync" }', "$.services.api.watch.actoin", "unknown key 'actoin' (did you mean 'action'?)"),
    ('["src", "/**/*.py"]', "$.services.api.watch[1]",  # once: validated, then the watcher gave up in /proc
     "'/**/*.py' watches the whole filesystem; name the directories your code is in (relative to locald.toml, "
     'e.g. "src/**/*.py")'),
])
def test_process_watch_mistakes_at_their_line(tmp_path, watch, where, message):
    f = tmp_path / "locald.toml"
    f.write_text(f'[project]\nname = "w"\n\n[services.api]\ncommand = "x"\nwatch = {watch}\n')
    problems = check_file(f).problems
    assert [(p.line, p.path, p.message) for p in problems] == [(6, where, message)]


def test_container_watch_mistakes(tmp_path):
    f = tmp_path / "locald.toml"
    f.write_text('[project]\nname = "w"\n\n[services.db]\nimage = "redis:7"\nwatch = [\n'
                 '  { paths = "a", action = "sync" },\n'
                 '  { paths = "b", action = "sync+restart", target = "app" },\n'
                 '  { paths = "c", action = "rebuild" },\n]\n')
    assert [(p.line, p.message) for p in check_file(f).problems] == [
        (7, 'action = "sync" needs `target`: the path inside the container the watched files go to'),
        (8, "`target` must be an absolute path inside the container (`/app/app`)"),
        (9, 'action = "rebuild" needs `build`: service \'db\' runs an image it does not build')]


# --- compose mapping -----------------------------------------------------------------------------------

def test_develop_watch_entries_locald_can_say():
    assert watch_rules([
        {"path": "./src", "action": "sync", "target": "/app", "ignore": ["*.tmp"], "exec": {"command": None}},
        {"path": "./src", "action": "restart", "include": ["**/*.py", "*.cfg"]},
        {"path": "./Dockerfile", "action": "rebuild"},
    ], builds=True) == [
        {"paths": ["./src"], "action": "sync", "target": "/app", "ignore": ["*.tmp"]},
        {"paths": ["./src/**/*.py", "./src/*.cfg"], "action": "restart"},
        {"paths": ["./Dockerfile"], "action": "rebuild"}]


@pytest.mark.parametrize("entry", [
    {"path": "./c", "action": "sync+exec", "target": "/c", "exec": {"command": ["kill", "-HUP", "1"]}},
    {"path": "./c", "action": "restart", "initial_sync": True},
    {"path": "./c", "action": "sync", "target": "relative"},
    {"path": "./c", "action": "restart", "target": "/c"},
    {"path": "./c*", "action": "restart"},
    {"path": "./c", "action": "restart", "include": ["sub/*.py"]},  # the glob-free `sub` would join the base
    {"path": "./c", "action": "rebuild"},  # without a build (builds=False)
])
def test_develop_watch_entries_locald_cannot_say_stay_in_compose(entry):
    assert watch_rules([{"path": "./ok", "action": "restart"}, entry], builds=False) is None
