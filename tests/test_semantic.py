"""Checks the schema cannot express, each located at the line that caused it."""

from __future__ import annotations

import signal
import textwrap

import pytest

from locald.config import check_file, semantic
from locald.config.source import load_text

HEADER = '[project]\nname = "t"\n\n'  # bodies start on line 4


def found(tmp_path, body: str) -> list[tuple[int, int, str, str]]:
    f = tmp_path / "locald.toml"
    f.write_text(HEADER + textwrap.dedent(body))
    return [(p.line, p.col, p.path, p.message) for p in check_file(f).problems]


def semantic_only(body: str, known=frozenset()) -> list[tuple[int, str, str]]:
    source = load_text(HEADER + textwrap.dedent(body), "locald.toml")
    return [(p.line, p.path, p.message) for p in semantic.check(source, set(known))]


def test_unknown_dependency_in_each_form(tmp_path):
    assert found(tmp_path, """\
        [services.db]
        image = "postgres:15"
        [services.a]
        command = "x"
        depends_on = ["db", "dbb"]
        [services.b]
        command = "x"
        depends_on = { ghost = "healthy" }
        [services.c]
        command = "x"
        depends_on = { cahce = { condition = "started" } }
        """) == [
        (8, 21, "$.services.a.depends_on[1]", "depends on unknown service 'dbb' (did you mean 'db'?)"),
        (11, 16, "$.services.b.depends_on.ghost", "depends on unknown service 'ghost'"),
        (14, 16, "$.services.c.depends_on.cahce", "depends on unknown service 'cahce'"),
    ]


def test_dependency_on_an_adopted_compose_service_is_known():
    body = '[services.a]\ncommand = "x"\ndepends_on = ["from-compose"]\n'
    assert semantic_only(body, known={"from-compose"}) == []
    assert semantic_only(body) == [(6, "$.services.a.depends_on[0]", "depends on unknown service 'from-compose'")]


def test_self_dependency(tmp_path):
    assert found(tmp_path, '[services.a]\ncommand = "x"\ndepends_on = ["a"]\n') == [
        (6, 15, "$.services.a.depends_on[0]", "service 'a' depends on itself")]


def test_cycle_is_printed_once(tmp_path):
    assert found(tmp_path, """\
        [services.a]
        command = "x"
        depends_on = ["b"]
        [services.b]
        command = "x"
        depends_on = { a = "healthy" }
        """) == [(9, 16, "$.services.b.depends_on.a", "dependency cycle: a → b → a")]


def test_longer_cycle_and_a_separate_one():
    problems = semantic_only("""\
        [services.a]
        command = "x"
        depends_on = ["b"]
        [services.b]
        command = "x"
        depends_on = ["c"]
        [services.c]
        command = "x"
        depends_on = ["a", "d"]
        [services.d]
        command = "x"
        [services.e]
        command = "x"
        depends_on = ["f"]
        [services.f]
        command = "x"
        depends_on = ["e"]
        """)
    assert [m for _, _, m in problems] == ["dependency cycle: a → b → c → a", "dependency cycle: e → f → e"]
    assert problems[0][:2] == (12, "$.services.c.depends_on[0]")


def test_a_long_chain_is_no_recursion_problem():
    n = 3000
    body = "".join(f'[services.s{i}]\ncommand = "x"\n' + (f'depends_on = ["s{i + 1}"]\n' if i < n - 1 else "")
                   for i in range(n))
    assert semantic_only(body) == []
    cyclic = body + 'depends_on = ["s0"]\n'
    [(_, path, message)] = semantic_only(cyclic)
    assert path == f"$.services.s{n - 1}.depends_on[0]"
    assert message.startswith("dependency cycle: s0 → s1 → ") and message.endswith(f"s{n - 1} → s0")


def test_duplicate_fixed_port(tmp_path):
    assert found(tmp_path, """\
        [services.a]
        command = "x"
        port = 3000
        [services.b]
        image = "nginx"
        port = 3000.0
        [services.c]
        command = "x"
        port = 3001
        """) == [(9, 1, "$.services.b.port", "port 3000 is already used by service 'a'")]


def test_container_without_image_or_build(tmp_path):
    assert found(tmp_path, '[services.cache]\ntype = "container"\ncontainer_port = 6379\n') == [
        (4, 11, "$.services.cache", "container service 'cache' needs `image` or `build`")]


def test_postgres_needs_no_image(tmp_path):
    assert found(tmp_path, '[services.db]\ntype = "postgres"\nversion = 15\n') == []


@pytest.mark.parametrize("kind", ["exec", "worker"])
def test_process_without_command(tmp_path, kind):
    assert found(tmp_path, f'[services.web]\ntype = "{kind}"\n') == [
        (4, 11, "$.services.web", "service 'web' has no `command`: say what to run, e.g. command = \"npm run dev\"")]


def test_untyped_service_without_anything_is_a_process_without_command(tmp_path):
    assert found(tmp_path, "[services]\nweb = {}\n") == [
        (5, 1, "$.services.web", "service 'web' has no `command`: say what to run, e.g. command = \"npm run dev\"")]


def test_site(tmp_path):
    assert found(tmp_path, '[services.docs]\ntype = "site"\npath = "docs"\n') == []
    assert found(tmp_path, '[services.docs]\ntype = "site"\ncommand = "x"\n') == [
        (6, 1, "$.services.docs.command", "a site serves `path`; it takes no `command` (use type = \"exec\")")]


def test_env_references(tmp_path):
    assert found(tmp_path, """\
        [services.db]
        type = "postgres"
        [services.jobs]
        type = "worker"
        command = "x"
        [services.web]
        command = "x"
        [services.web.env]
        OK = "${services.db.url} ${services.db.host}:${services.db.port} ${services.jobs.host}"
        BAD_SERVICE = "${services.dbb.url}"
        BAD_FIELD = "x=${services.db.password}"
        WORKER_PORT = "${services.jobs.port}"
        NOT_A_REFERENCE = "${HOME} $services.db.url"
        """) == [
        (13, 1, "$.services.web.env.BAD_SERVICE", "${services.dbb.url} names unknown service 'dbb' (did you mean 'db'?)"),
        (14, 1, "$.services.web.env.BAD_FIELD",
         "${services.db.password}: unknown field 'password'; use one of port, host, url, domain, public_url"),
        (15, 1, "$.services.web.env.WORKER_PORT",
         "${services.jobs.port}: 'jobs' is a worker and has no port; make it type = \"exec\" if it listens"),
    ]


def test_env_references_in_inline_env_point_at_the_variable(tmp_path):
    [(line, col, path, _)] = found(tmp_path, '[services.web]\ncommand = "x"\nenv = { A = "1", B = "${services.x.url}" }\n')
    assert (line, col, path) == (6, 18, "$.services.web.env.B")


@pytest.mark.parametrize(
    "kind, key, value, kind_words",
    [
        ("exec", "volumes", '["a:/b"]', 'a host process (type = "exec")'),
        ("exec", "container_port", "80", 'a host process (type = "exec")'),
        ("worker", "build", '"."', 'a host process (worker) (type = "worker")'),
        ("site", "compose", "{}", 'a static site (type = "site")'),
        ("exec", "user", '"1000"', 'a host process (type = "exec")'),
        ("exec", "entrypoint", '"sh"', 'a host process (type = "exec")'),
        ("exec", "ports", '["80:80"]', 'a host process (type = "exec")'),
        ("container", "path", '"docs"', 'a container (type = "container")'),
        ("container", "version", '"15"', 'a container (type = "container")'),
        ("exec", "image", '"redis"', 'a host process (type = "exec"); set type = "container" or remove `type`'),
    ],
)
def test_key_that_does_not_apply_to_the_kind(tmp_path, kind, key, value, kind_words):
    body = f'[services.s]\ntype = "{kind}"\ncommand = "x"\nimage = "i"\n' if kind == "container" else \
        f'[services.s]\ntype = "{kind}"\n' + ('command = "x"\n' if kind != "site" else "")
    if key == "image":
        body = '[services.s]\ntype = "exec"\ncommand = "x"\n'
    problems = found(tmp_path, body + f"{key} = {value}\n")
    assert (f"$.services.s.{key}", f"`{key}` does not apply to {kind_words}") in [(p, m) for _, _, p, m in problems]


def test_worker_with_port(tmp_path):
    assert found(tmp_path, '[services.w]\ntype = "worker"\ncommand = "x"\nport = 9000\n') == [
        (7, 1, "$.services.w.port", "a worker gets no port; use type = \"exec\" for a service that listens")]


def test_unknown_signal(tmp_path):
    assert found(tmp_path, '[services.w]\ncommand = "x"\nstop_signal = "SIGTREM"\n') == [
        (6, 1, "$.services.w.stop_signal", "unknown signal 'SIGTREM' (did you mean 'SIGTERM'?)")]


@pytest.mark.parametrize("name", ["SIGRTMIN+3", "RTMIN", "SIGRTMAX-2", "SIGRTMAX", "INT", "SIGIOT", "SIGKILL"])
def test_every_signal_validate_accepts_is_one_the_runtime_can_send(tmp_path, name):
    """One reading of signal names for both: the README's own `SIGRTMIN+3` once passed validate and then
    crashed `up` (the runtime looked only at signal.Signals)."""
    from locald.config.signals import signal_number
    from locald.runtime.processes import runner

    assert runner.signal_number is signal_number, "the runtime reads signal names the way validate does"
    assert found(tmp_path, f'[services.w]\ncommand = "x"\nstop_signal = "{name}"\n') == []
    project = check_file(tmp_path / "locald.toml").project
    number = signal_number(project.services["w"].stop_signal)
    assert signal.SIGHUP <= number <= signal.SIGRTMAX
    if "RTM" in name:
        assert signal.SIGRTMIN <= number


@pytest.mark.parametrize("name", ["SIGRTMIN+31", "SIGRTMAX+1", "SIGRTMIN-1", "RTMAX-31"])
def test_realtime_signals_beyond_the_range_are_unknown(tmp_path, name):
    [(_, _, path, message)] = found(tmp_path, f'[services.w]\ncommand = "x"\nstop_signal = "{name}"\n')
    assert (path, message.split(" (")[0]) == ("$.services.w.stop_signal", f"unknown signal '{name}'")


@pytest.mark.parametrize("name, engine", [("SIGRTMIN+15", "SIGRTMIN+15"), ("SIGRTMIN+16", str(signal.SIGRTMIN + 16)),
                                          ("SIGRTMAX-14", "SIGRTMAX-14"), ("SIGRTMAX-15", str(signal.SIGRTMAX - 15)),
                                          ("SIGINT", "SIGINT"), ("SIGRTMAX", "SIGRTMAX")])
def test_containers_get_realtime_signals_the_engine_cannot_name_as_numbers(name, engine):
    from locald.config.signals import engine_signal

    assert engine_signal(name) == engine


def test_semantic_checks_run_next_to_schema_errors(tmp_path):
    # one `validate` shows both kinds of mistakes, sorted by line
    problems = found(tmp_path, """\
        [services.web]
        command = "x"
        port = "3000"
        depends_on = ["nope"]
        """)
    assert [p for _, _, p, _ in problems] == ["$.services.web.port", "$.services.web.depends_on[0]"]


@pytest.mark.parametrize("body, semantic_problems", [
    ("services = 5\n", []),
    ("services = { web = 5 }\n", []),
    ('[services.web]\ncommand = "x"\ndepends_on = 5\nenv = 5\nport = "x"\ntype = 5\n', []),
    ('[services.web]\ncommand = "x"\ndepends_on = [1, {}, []]\nenv = { A = [1] }\nstop_signal = 15\n', []),
    ('[services.web]\nimage = "x"\nvolumes = "a"\nbuild = { args = 5 }\nstop_grace_period = "soon"\n'
     'health_check = { type = "command", command = 5, interval = [] }\nenv_file = 5\n', []),
    ('[services.web]\ncommand = "x"\ndepends_on = { a = 1 }\nport = true\n',
     [(6, "$.services.web.depends_on.a", "depends on unknown service 'a'")]),  # a name, whatever its spec
])
def test_semantic_checks_survive_wrong_types(tmp_path, body, semantic_problems):
    """The schema reports these; the semantic pass neither trips over them nor reports them again."""
    assert semantic_only(body) == semantic_problems
    (tmp_path / "locald.toml").write_text(HEADER + body)
    reported = [(p.line, p.path, p.message) for p in check_file(tmp_path / "locald.toml").problems]
    schema_only = [p for p in reported if p not in semantic_problems]
    assert schema_only and len(reported) == len(schema_only) + len(semantic_problems)


# --- values that passed validate and then crashed `up` ---------------------------------------------

NUL = "contains a NUL byte (\\u0000): no command, environment variable or file name can hold one"


def test_nul_bytes_are_refused_wherever_they_would_reach_exec_or_the_engine(tmp_path):
    assert found(tmp_path, '''\
        [services.a]
        command = "run\\u0000"
        env = { OK = "x\\u0000y" }
        [services.b]
        command = ["run", "--flag\\u0000"]
        workdir = "d\\u0000"
        ''') == [
        (5, 1, "$.services.a.command", NUL),
        (6, 9, "$.services.a.env.OK", NUL),
        (8, 19, "$.services.b.command[1]", NUL),
        (9, 1, "$.services.b.workdir", NUL),
    ]


@pytest.mark.parametrize("name, what", [('"A=B"', "contain '='"), ('""', "be empty"), (r'"A\u0000B"', "contain a NUL byte"),
                                        (r'"A\nB"', "contain a line break")])
def test_environment_variable_names_that_exec_refuses(tmp_path, name, what):
    [(line, _, _, message)] = found(tmp_path, f'[services.a]\ncommand = "x"\nenv = {{ {name} = "1" }}\n')
    assert (line, message) == (6, f"an environment variable name cannot {what}")


def test_build_argument_names_like_environment_names(tmp_path):
    """Found by tests/test_valid_configs.py: `args = { "" = "" }` passed validate and broke the compose file."""
    [(line, _, path, message)] = found(tmp_path, '[services.a]\nbuild = { context = ".", args = { "" = "x" } }\n')
    assert (line, path, message) == (5, '$.services.a.build.args[""]', "a build argument name cannot be empty")


FORM = "write SOURCE:TARGET or SOURCE:TARGET:MODE"


@pytest.mark.parametrize("spec, message", [
    (":::", f"volume ':::' has an empty part between colons: {FORM}"),
    ("", f"a volume cannot be empty: {FORM}"),
    ("./a:/b:ro:x", f"volume './a:/b:ro:x' has too many colons: {FORM}"),
    ("data", "volume 'data': the container path 'data' must be absolute (start with /)"),
    ("data:var/lib", "volume 'data:var/lib': the container path 'var/lib' must be absolute (start with /)"),
    ("data:/d:r0", "volume 'data:/d:r0': unknown mode 'r0' (known: ro, rw, nocopy, z, Z, shared, rshared, slave, "
                   "rslave, private, rprivate)"),
    ("a:/data", "volume 'a:/data': compose reads 'a:' as a Windows drive letter; give the volume a name of two "
                "characters or more"),
    ("my data:/d", "volume 'my data:/d': the volume name 'my data' may only hold letters, digits, '_', '.' and '-' "
                   "(a host path starts with ./, / or ~)"),
])
def test_short_volumes_compose_would_refuse(tmp_path, spec, message):
    assert found(tmp_path, f'[services.db]\nimage = "redis:7"\nvolumes = ["/ok", "{spec}"]\n') == [
        (6, 19, "$.services.db.volumes[1]", message)]


@pytest.mark.parametrize("spec", ["data:/data", "data:/data:ro,z", "./init.sql:/init.sql:ro", "~/x:/x", "/anon",
                                  "C:\\\\data:/data", "pg.data-1:/var/lib/postgresql/data:rw,nocopy"])
def test_short_volumes_compose_reads(tmp_path, spec):
    assert found(tmp_path, f'[services.db]\ntype = "postgres"\nvolumes = ["{spec}"]\n') == []


@pytest.mark.parametrize("line, path", [
    ("stop_grace_period = 1e12", "stop_grace_period"),
    ('stop_grace_period = "3000000h"', "stop_grace_period"),
    ('health_check = { type = "tcp", interval = 9223372037 }', "health_check.interval"),
    ('depends_on = { db = { timeout = "99999999999s" } }', "depends_on.db.timeout"),
])
def test_durations_longer_than_anything_can_wait(tmp_path, line, path):
    body = f'[services.db]\nimage = "redis:7"\n[services.web]\ncommand = "x"\n{line}\n'
    [(_, _, p, message)] = found(tmp_path, body)
    assert (p, message) == (f"$.services.web.{path}", "a duration can be at most 9223372036 seconds (about 292 years)")


def test_the_longest_duration_is_accepted(tmp_path):
    assert found(tmp_path, '[services.web]\ncommand = "x"\nstop_grace_period = 9223372036\n'
                           'health_check = { type = "tcp", timeout = "2562047h" }\n') == []


def test_a_command_health_check_without_a_command(tmp_path):
    """Found by tests/test_valid_configs.py: it passed validate and became `test: [CMD-SHELL, null]`."""
    assert found(tmp_path, '[services.db]\nimage = "redis:7"\nhealth_check = { type = "command", retries = 2 }\n') == [
        (6, 1, "$.services.db.health_check",
         'a health check of type = "command" needs the `command` to run (exit status 0 = ready)')]
    assert found(tmp_path, '[services.db]\nimage = "redis:7"\nhealth_check = { type = "command", comand = "x" }\n') == [
        (6, 36, "$.services.db.health_check.comand", "unknown key 'comand' (did you mean 'command'?)")]
