"""Every rule of schema/locald.schema.json, with the message a user sees and the line it points at.

Also: the schema itself (valid draft-07, only keywords editors know, every property described) and
the validator (jsonschema's Draft7Validator, built once).
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest

from locald.config import check_file
from locald.config.model import parse_duration
from locald.config import schema as schema_mod
from locald.config.schema import schema, schema_path
from locald.config.source import load_text

HEADER = '[project]\nname = "t"\n\n'  # 3 lines: bodies start on line 4


def check(tmp_path, body: str, header: str = HEADER):
    f = tmp_path / "locald.toml"
    f.write_text(header + textwrap.dedent(body))
    return check_file(f)


def found(tmp_path, body: str, header: str = HEADER) -> list[tuple[int, str, str]]:
    """(line, json path, message) of every problem."""
    return [(p.line, p.path, p.message) for p in check(tmp_path, body, header).problems]


def schema_found(body: str, header: str = HEADER) -> list[tuple[int, str, str]]:
    """Schema problems only (no semantic checks)."""
    source = load_text(header + textwrap.dedent(body), "locald.toml")
    return [(p.line, p.path, p.message) for p in schema_mod.validate(source)]


def valid(tmp_path, body: str, header: str = HEADER):
    checked = check(tmp_path, body, header)
    assert checked.problems == []
    return checked.project


DURATION = "expected a duration (seconds as a number, or a string like '10s' or '1m30s'), got "


# --- unknown keys ---------------------------------------------------------------------------------

def test_unknown_service_key_with_did_you_mean(tmp_path):
    # and no "has no `command`" on top: that would be the same mistake twice
    assert found(tmp_path, '[services.web]\ncomand = "npm run dev"\n') == [
        (5, "$.services.web.comand", "unknown key 'comand' (did you mean 'command'?)"),
    ]
    assert found(tmp_path, '[services.web]\ntype = "container"\nimgae = "redis:7"\n') == [
        (6, "$.services.web.imgae", "unknown key 'imgae' (did you mean 'image'?)"),
    ]


def test_service_table_typo_is_an_error_not_a_lost_service(tmp_path):
    assert found(tmp_path, '[service.web]\ncommand = "x"\n') == [
        (4, "$.service", "unknown key 'service': services are declared as [services.NAME]"),
    ]


@pytest.mark.parametrize(
    "body, path, message",
    [
        ('[sevices.web]\ncommand = "x"\n', "$.sevices", "unknown key 'sevices' (did you mean 'services'?)"),
        ('[services.web]\ncommand = "x"\nhealthcheck = "true"\n', "$.services.web.healthcheck",
         "unknown key 'healthcheck': locald calls it `health_check`"),
        ('[services.web]\ncommand = "x"\nenvironment = {}\n', "$.services.web.environment",
         "unknown key 'environment': locald calls it `env`"),
        ('[services.web]\ncommand = "x"\nworking_dir = "a"\n', "$.services.web.working_dir",
         "unknown key 'working_dir': locald calls it `workdir`"),
        ('[services.web]\ncommand = "bash"\nargs = ["-c", "echo $HOME"]\n', "$.services.web.args",
         "unknown key 'args': put the program and its arguments in `command`: "
         'command = ["bash", "-c", "echo $HOME"]'),
        ('[services.web]\ncommand = "cd x && run"\nargs = ["-v"]\n', "$.services.web.args",
         "unknown key 'args': put the program and its arguments in `command` as an array: "
         'command = ["bash", "-c", "…"]'),
        ('[services.web]\ncommand = "x"\nhealth_check = { type = "http", pth = "/" }\n',
         "$.services.web.health_check.pth", "unknown key 'pth' (did you mean 'path'?)"),
        ('[services.web]\ncommand = "x"\nzzz = 1\n', "$.services.web.zzz", "unknown key 'zzz'"),
        ('[compose]\nfile = ["a.yml"]\n', "$.compose.file", "unknown key 'file' (did you mean 'files'?)"),
    ],
)
def test_unknown_keys(body, path, message):
    [(_, p, m)] = schema_found(body)
    assert (p, m) == (path, message)


def test_unknown_project_key(tmp_path):
    assert found(tmp_path, "", header='[project]\nname = "t"\nnmae = "x"\n') == [
        (3, "$.project.nmae", "unknown key 'nmae' (did you mean 'name'?)")]


def test_project_is_required_and_named(tmp_path):
    assert found(tmp_path, '[services.web]\ncommand = "x"\n', header="") == [
        (1, "$", "missing required key 'project'")]
    assert found(tmp_path, "", header='[project]\ndomain = "a.localhost"\n') == [
        (1, "$.project", "missing required key 'name'")]
    assert found(tmp_path, "", header='[project]\nname = ""\n') == [(2, "$.project.name", "must not be empty")]
    assert found(tmp_path, "", header='[project]\nname = "t"\ndomain = "not a host"\n') == [
        (3, "$.project.domain", "the string \"not a host\" is not a host name (letters, digits, '-' and '.')")]


# --- x- extension keys ----------------------------------------------------------------------------

def test_x_keys_are_allowed_anywhere(tmp_path):
    project = valid(tmp_path, """\
        x-top = { anything = [1, "two"] }

        [services.x-common]
        whatever = true

        [services.web]
        command = "x"
        x-owner = "team-a"
        health_check = { type = "http", x-note = "probe" }
        depends_on = { db = { condition = "healthy", x-why = "schema first" } }

        [services.db]
        build = { context = ".", x-cache = "no" }
        compose = { x-custom = 1 }
        """, header='[project]\nname = "t"\nx-meta = 1\n\n')
    assert set(project.services) == {"web", "db"}  # x-common is an extension, not a service


# --- service names --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Web", "_web", '"web.api"', '"web api"', '"é"', '""', "-web"])
def test_bad_service_names(name):
    [(line, path, message)] = schema_found(f'[services.{name}]\ncommand = "x"\n')
    shown = json.loads(name) if name.startswith('"') else name
    assert line == 4
    assert message == (f"service name {json.dumps(shown, ensure_ascii=False)} cannot be used as a compose "
                       "service name: use lowercase letters, digits, '-' and '_', starting with a letter or digit")


@pytest.mark.parametrize("name", ["web", "web-2", "web_api", "0day", "x-ext", "s" * 63])
def test_good_service_names(name):
    assert schema_found(f'[services.{name}]\ncommand = "x"\n') == []


def test_a_service_name_longer_than_a_host_name_label(tmp_path):
    """300 characters once passed validate and failed `up` (its log file name was too long); 63 is what a
    host name label allows, and a container's service name is its host name on the compose network."""
    assert found(tmp_path, f'[services.{"s" * 300}]\ncommand = "x"\n') == [
        (4, "$.services." + "s" * 300, 'service name "ssssssssssssssssssss…" is 300 characters long; at most 63 '
         "are allowed (a service name is its host name on the container network)")]
    assert found(tmp_path, f'[services.{"s" * 64}]\ncommand = "x"\n')[0][2].endswith("64 characters long; at most "
                                                                                     "63 are allowed (a service name "
                                                                                     "is its host name on the "
                                                                                     "container network)")


def test_a_project_name_longer_than_a_host_name_label(tmp_path):
    assert found(tmp_path, "", header=f'[project]\nname = "{"p" * 64}"\n') == [
        (2, "$.project.name", "must be at most 63 characters long, got 64")]
    assert valid(tmp_path, "", header=f'[project]\nname = "{"p" * 63}"\n').name == "p" * 63


# --- ports ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "value, message",
    [
        ("0", "must be at least 1, got 0"),
        ("70000", "must be at most 65535, got 70000"),
        ('"3000"', 'expected an integer, got the string "3000"'),
        ("3000.5", "expected an integer, got the number 3000.5"),
        ("true", "expected an integer, got a boolean"),
    ],
)
@pytest.mark.parametrize("key", ["port", "health_check.port", "container_port"])
def test_port_range_and_type(key, value, message):
    body = '[services.web]\nimage = "nginx"\n' + f"{key} = {value}\n"
    [(line, path, m)] = schema_found(body)
    assert (line, path, m) == (6, "$.services.web." + key, message)


def test_integral_float_port_is_an_integer(tmp_path):
    # draft-07 says 3000.0 is an integer (and editors agree); the model gets an int
    project = valid(tmp_path, '[services.web]\ncommand = "x"\nport = 3000.0\n')
    assert project.services["web"].port == 3000 and isinstance(project.services["web"].port, int)


# --- durations ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, seconds", [
    ("5", 5), ("1.5", 1.5), ("0", 0), ('"1m30s"', 90), ('"500ms"', 0.5), ('"1h2m3.5s"', 3723.5), ('"10us"', 1e-5),
])
def test_good_durations(tmp_path, value, seconds):
    project = valid(tmp_path, f'[services.web]\ncommand = "x"\nstop_grace_period = {value}\n')
    assert math.isclose(project.services["web"].stop_grace_period, seconds)
    assert math.isclose(parse_duration(json.loads(value)), seconds)


@pytest.mark.parametrize("value, shown", [
    ('"1m30"', 'the string "1m30"'), ('"abc"', 'the string "abc"'), ("-1", "the number -1"),
    ('""', 'the string ""'), ("true", "a boolean"), ("nan", "the number nan"), ("inf", "the number inf"),
    ('"10 s"', 'the string "10 s"'), ("[1]", "an array"),
])
@pytest.mark.parametrize("key", [
    "stop_grace_period", "health_check.interval", "health_check.timeout", "health_check.start_period",
    "depends_on.db.timeout",
])
def test_bad_durations(key, value, shown):
    body = '[services.db]\nimage = "x"\n[services.web]\ncommand = "x"\n' + f"{key} = {value}\n"
    assert schema_found(body) == [(8, "$.services.web." + key, DURATION + shown)]


# --- depends_on -----------------------------------------------------------------------------------

def test_depends_on_three_forms(tmp_path):
    project = valid(tmp_path, """\
        [services.db]
        image = "postgres:15"
        [services.migrate]
        type = "worker"
        command = "migrate"
        [services.a]
        command = "x"
        depends_on = ["db"]
        [services.b]
        command = "x"
        depends_on = { db = "healthy", migrate = "completed_successfully" }
        [services.c]
        command = "x"
        depends_on = { db = { condition = "started", timeout = "5m", required = false }, a = {} }
        """)
    deps = {n: [(d.name, d.condition, d.timeout, d.required) for d in s.depends_on] for n, s in project.services.items()}
    assert deps["a"] == [("db", None, 120.0, True)]
    assert deps["b"] == [("db", "healthy", 120.0, True), ("migrate", "completed_successfully", 120.0, True)]
    assert deps["c"] == [("db", "started", 300.0, False), ("a", "healthy", 120.0, True)]


@pytest.mark.parametrize(
    "value, path, message",
    [
        ('"db"', "depends_on", 'expected an array or a table, got the string "db"'),
        ("[1]", "depends_on[0]", "expected a string, got the number 1"),
        ('{ db = "ready" }', "depends_on.db",
         'the string "ready" is not one of: "started", "healthy", "completed_successfully"'),
        ("{ db = 5 }", "depends_on.db", "expected a string or a table, got the number 5"),
        ('{ db = { condition = "up" } }', "depends_on.db.condition",
         'the string "up" is not one of: "started", "healthy", "completed_successfully"'),
        ('{ db = { required = "no" } }', "depends_on.db.required", 'expected a boolean, got the string "no"'),
        ("{ db = { wait = 1 } }", "depends_on.db.wait", "unknown key 'wait'"),
    ],
)
def test_depends_on_errors(value, path, message):
    body = '[services.db]\nimage = "x"\n[services.web]\ncommand = "x"\n' + f"depends_on = {value}\n"
    [(line, p, m)] = schema_found(body)
    assert (line, p, m) == (8, "$.services.web." + path, message)


# --- health_check ---------------------------------------------------------------------------------

def test_health_check_string_and_table(tmp_path):
    project = valid(tmp_path, """\
        [services.a]
        command = "x"
        health_check = "test -f ready"
        [services.b]
        command = "x"
        health_check = { type = "http", path = "/healthz", interval = "2s", timeout = 3, retries = 5, start_period = "30s" }
        [services.c]
        command = "x"
        [services.c.health_check]
        type = "command"
        command = ["pg_isready", "-U", "postgres"]
        [services.d]
        command = "x"
        health_check = { type = "tcp", port = 9090 }
        """)
    a, b, c, d = (project.services[n].health_check for n in "abcd")
    assert (a.type, a.command) == ("command", "test -f ready")
    assert (b.type, b.path, b.interval, b.timeout, b.retries, b.start_period) == ("http", "/healthz", 2, 3, 5, 30)
    assert (c.type, c.command) == ("command", ("pg_isready", "-U", "postgres"))
    assert (d.type, d.port) == ("tcp", 9090)


@pytest.mark.parametrize(
    "value, path, message",
    [
        ('""', "health_check", "must not be empty"),
        ("5", "health_check", "expected a string or a table, got the number 5"),
        ('{ type = "https" }', "health_check.type", 'the string "https" is not one of: "http", "tcp", "command"'),
        ("{ retries = 0 }", "health_check.retries", "must be at least 1, got 0"),
        ("{ path = 1 }", "health_check.path", "expected a string, got the number 1"),
        ("{ command = [] }", "health_check.command", "must not be an empty array"),
        ("{ interval_s = 1 }", "health_check.interval_s", "unknown key 'interval_s' (did you mean 'interval'?)"),
    ],
)
def test_health_check_errors(value, path, message):
    [(line, p, m)] = schema_found('[services.web]\ncommand = "x"\n' + f"health_check = {value}\n")
    assert (line, p, m) == (6, "$.services.web." + path, message)


# --- stop_signal, restart -------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["SIGINT", "INT", "SIGKILL", "SIGRTMIN+3", "HUP"])
def test_good_stop_signals(tmp_path, value):
    project = valid(tmp_path, f'[services.web]\ncommand = "x"\nstop_signal = "{value}"\n')
    assert project.services["web"].stop_signal.startswith("SIG")


@pytest.mark.parametrize("value, message", [
    ('"sigint"', 'the string "sigint" is not a signal name (e.g. \'SIGINT\')'),
    ('"SIG INT"', 'the string "SIG INT" is not a signal name (e.g. \'SIGINT\')'),
    ("15", "expected a string, got the number 15"),
])
def test_bad_stop_signals(value, message):
    assert schema_found(f'[services.web]\ncommand = "x"\nstop_signal = {value}\n') == [
        (6, "$.services.web.stop_signal", message)]


@pytest.mark.parametrize("value", ["no", "on-failure", "always"])
def test_restart_values(tmp_path, value):
    project = valid(tmp_path, f'[services.web]\ncommand = "x"\nrestart = "{value}"\nmax_restarts = 3\n')
    assert (project.services["web"].restart, project.services["web"].max_restarts) == (value, 3)


@pytest.mark.parametrize("line, path, message", [
    ('restart = "sometimes"', "restart", 'the string "sometimes" is not one of: "no", "on-failure", "always"'),
    ("restart = false", "restart", "expected a string, got a boolean"),
    ("max_restarts = -1", "max_restarts", "must be at least 0, got -1"),
])
def test_restart_errors(line, path, message):
    assert schema_found(f'[services.web]\ncommand = "x"\n{line}\n') == [(6, "$.services.web." + path, message)]


# --- build and container keys ---------------------------------------------------------------------

def test_build_forms(tmp_path):
    project = valid(tmp_path, """\
        [services.a]
        build = "./api"
        [services.b]
        build = { context = ".", dockerfile = "Dockerfile.dev", args = { NODE = "20", N = 2, DEBUG = true } }
        [services.c.build]
        context = "c"
        """)
    assert project.services["a"].build == {"context": "./api"}
    assert project.services["b"].build["dockerfile"] == "Dockerfile.dev"
    assert project.services["c"].build == {"context": "c"}
    assert all(s.is_container for s in project.services.values())


CNB = ("`build` needs a `context` directory with a Dockerfile "
       "(Cloud Native Buildpacks builds of the original locald are not supported)")
NO_CNB = ("Cloud Native Buildpacks builds are not supported: build with a Dockerfile (`build = \"./dir\"`) "
          "or use `image`")


@pytest.mark.parametrize("value, expected", [
    ("{}", [("build", CNB)]),
    ('{ builder = "heroku/builder:22" }', [("build", CNB), ("build.builder", "unknown key 'builder': " + NO_CNB)]),
    ('""', [("build", "must not be empty")]),
    ('{ context = "." , args = { A = [1] } }', [("build.args.A", "expected a string, a number or a boolean, got an array")]),
    ("1", [("build", "expected a string or a table, got the number 1")]),
])
def test_build_errors(value, expected):
    assert schema_found(f"[services.web]\nbuild = {value}\n") == [(5, "$.services.web." + p, m) for p, m in expected]


@pytest.mark.parametrize("line, path, message", [
    ('image = ""', "image", "must not be empty"),
    ("image = 1979-05-27", "image", "expected a string, got a date"),
    ("ports = [true]", "ports[0]", "expected a string, an integer or a table, got a boolean"),
    ('volumes = "a:/b"', "volumes", 'expected an array, got the string "a:/b"'),
    ("volumes = [1]", "volumes[0]", "expected a string or a table, got the number 1"),
    ("entrypoint = []", "entrypoint", "must not be an empty array"),
    ("user = 1000", "user", "expected a string, got the number 1000"),
    ("version = true", "version", "expected a string or a number, got a boolean"),
    ('compose = "x"', "compose", 'expected a table, got the string "x"'),
])
def test_container_key_errors(line, path, message):
    assert schema_found(f'[services.web]\ntype = "container"\n{line}\n') == [(6, "$.services.web." + path, message)]


# --- common keys ----------------------------------------------------------------------------------

@pytest.mark.parametrize("line, path, message", [
    ('command = ""', "command", "must not be empty"),
    ("command = []", "command", "must not be an empty array"),
    ('command = ["a", 1]', "command[1]", "expected a string, got the number 1"),
    ("command = 5", "command", "expected a string or an array, got the number 5"),
    ('env = "A=1"', "env", 'expected a table, got the string "A=1"'),
    ("env = { A = [1] }", "env.A", "expected a string, a number or a boolean, got an array"),
    ("env = { A = { B = 1 } }", "env.A", "expected a string, a number or a boolean, got a table"),
    ("env_file = 1", "env_file", "expected a string or an array, got the number 1"),
    ("workdir = false", "workdir", "expected a string, got a boolean"),
    ('type = "docker"', "type", 'the string "docker" is not one of: "exec", "worker", "container", "postgres", "site"'),
])
def test_common_key_errors(line, path, message):
    assert schema_found(f"[services.web]\n{line}\n") == [(5, "$.services.web." + path, message)]


def test_common_keys_build_the_model(tmp_path):
    project = valid(tmp_path, """\
        [services.web]
        command = ["python3", "app.py"]
        workdir = "app"
        env = { A = "x", N = 3, F = 1.5, B = false }
        env_file = ".env.local"
        [services.api]
        command = "serve"
        env_file = ["a.env", "b.env"]
        """)
    web, api = project.services["web"], project.services["api"]
    assert web.command == ("python3", "app.py") and api.command == "serve"
    assert web.env == {"A": "x", "N": "3", "F": "1.5", "B": "false"}
    assert web.env_file == (".env.local",) and api.env_file == ("a.env", "b.env")


def test_compose_files_and_profiles():
    assert schema_found('[compose]\nfiles = []\nprofiles = [""]\n') == [
        (5, "$.compose.files", "must not be an empty array"),
        (6, "$.compose.profiles[0]", "must not be empty"),
    ]


def test_every_schema_error_is_reported_in_line_order(tmp_path):
    problems = found(tmp_path, """\
        [services.web]
        comand = "x"
        port = 0
        restart = "never"
        [services.Api]
        command = 1
        """)
    assert [line for line, _, _ in problems] == sorted(line for line, _, _ in problems)
    assert {p for _, p, _ in problems} >= {"$.services.web.comand", "$.services.web.port", "$.services.web.restart",
                                            "$.services.Api", "$.services.Api.command"}


# --- the schema itself ----------------------------------------------------------------------------

# Draft-07 keywords Taplo and Tombi implement, minus those the schema has no use for; anything else
# would be silently ignored by an editor, or reach users without wording (schema.py).
ANNOTATIONS = {"$schema", "$id", "$comment", "title", "description", "default", "examples", "definitions"}
ASSERTIONS = {"type", "enum", "const", "required", "properties", "patternProperties", "additionalProperties",
              "propertyNames", "items", "minItems", "maxItems", "minLength", "maxLength", "pattern",
              "minimum", "maximum", "anyOf", "oneOf", "$ref"}
VALUE_KEYWORDS = {"default", "examples", "enum", "const"}  # their values are data, not schemas


def _keywords(node, where="#"):
    """(where, schema object) for every schema object in the document."""
    if not isinstance(node, dict):
        return
    yield where, node
    for key in ("properties", "patternProperties", "definitions"):
        for name, sub in node.get(key, {}).items():
            yield from _keywords(sub, f"{where}/{key}/{name}")
    for key in ("additionalProperties", "propertyNames", "items"):
        yield from _keywords(node.get(key), f"{where}/{key}")
    for key in ("anyOf", "oneOf"):
        for i, sub in enumerate(node.get(key, [])):
            yield from _keywords(sub, f"{where}/{key}/{i}")


def test_schema_is_valid_draft7_with_only_keywords_editors_know():
    from jsonschema import Draft7Validator

    Draft7Validator.check_schema(schema())
    assert schema()["$schema"] == "http://json-schema.org/draft-07/schema#"
    nodes = list(_keywords(schema()))
    assert len(nodes) > 60
    unknown = {(where, k) for where, node in nodes for k in set(node) - ANNOTATIONS - ASSERTIONS}
    assert unknown == set()
    # draft-07 ignores every keyword next to $ref: only annotations may stand there
    beside_ref = {(where, k) for where, node in nodes if "$ref" in node for k in set(node) - ANNOTATIONS - {"$ref"}}
    assert beside_ref == set()


def test_the_validator_is_jsonschemas_draft7_built_once():
    from jsonschema import Draft7Validator

    v = schema_mod.validator()
    assert v.META_SCHEMA == Draft7Validator.META_SCHEMA and v.VALIDATORS == Draft7Validator.VALIDATORS
    assert v.format_checker is None
    assert schema_mod.validator() is v
    assert not (Path(schema_mod.__file__).parent / "draft7.py").exists()


def test_nan_and_infinity_are_not_numbers():
    """JSON has no such values and Taplo refuses them: the one change to jsonschema's type checker."""
    assert schema_found('[services.web]\ncommand = "x"\nport = inf\nmax_restarts = nan\n') == [
        (6, "$.services.web.port", "expected an integer, got the number inf"),
        (7, "$.services.web.max_restarts", "expected an integer, got the number nan")]


def _properties(node, where="$"):
    if not isinstance(node, dict):
        return
    for name, sub in node.get("properties", {}).items():
        yield f"{where}.{name}", sub
        yield from _properties(sub, f"{where}.{name}")
    for key in ("additionalProperties", "items"):
        yield from _properties(node.get(key), f"{where}.{key}")
    for key in ("anyOf", "oneOf"):
        for i, sub in enumerate(node.get(key, [])):
            yield from _properties(sub, f"{where}.{key}[{i}]")


def test_every_property_has_a_description_a_default_and_an_example():
    doc = schema()
    props = list(_properties(doc)) + [p for n, d in doc["definitions"].items() for p in _properties(d, f"#{n}")]
    assert len(props) > 40
    missing = [(where, k) for where, sub in props for k in ("description", "default", "examples") if k not in sub]
    assert missing == []


def test_schema_file_is_the_packaged_one():
    assert schema_path().name == "locald.schema.json"
    assert json.loads(schema_path().read_text()) == schema()


def test_messages_stay_on_one_line(tmp_path):
    """User text with line breaks or invisible characters is escaped: one problem, one line."""
    problems = check(tmp_path, '[services.web]\n"a\\rb\\u2028" = 1\ncommand = "x"\ndepends_on = ["db\\n"]\n').problems
    assert [p.message for p in problems] == ["unknown key 'a\\rb\\u2028'", "depends on unknown service 'db\\n'"]
    assert [p.path for p in problems] == ['$.services.web["a\\rb\\u2028"]', "$.services.web.depends_on[0]"]
    assert all(len(str(p).splitlines()) == 1 for p in problems)


@pytest.mark.parametrize("key", ["volumes", "secrets", "configs"])
def test_top_level_compose_names_follow_the_compose_specification(key):
    """Found by tests/test_valid_configs.py: `[compose.volumes] ":" = {}` passed validate, and the
    generated compose file broke the Compose Specification."""
    assert schema_found(f'[compose.{key}]\n"a:b" = {{}}\nok_1-2.x = {{}}\n') == [
        (5, f"$.compose.{key}[\"a:b\"]", f"{key[:-1]} name \"a:b\" may only hold letters, digits, '.', '_' and '-' "
                                          "(the Compose Specification's rule)")]
