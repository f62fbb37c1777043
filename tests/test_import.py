"""`locald import compose`: each mapping, each refusal, the TOML it writes, and the real front end
(`docker compose config`) on the features the issue names (multi-file merge, YAML 1.2, interpolation)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import tomli
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from locald.compose import frontend, provenance, toml_writer
from locald.compose.fileformat import escape_all, unescape_all
from locald.compose.importer import ImportRefused, convert, import_compose, locald_name, relative_paths
from locald.config import check_source
from locald.config.source import load_text

from conftest import ROOT, run_locald

FIXTURES = ROOT / "compat" / "fixtures"


def project(services: dict, **top) -> frontend.ComposeModel:
    return frontend.ComposeModel({"name": "demo", "services": services, **top}, [], Path("/nowhere"))


def imported(services: dict, out_dir: Path = Path("/srv/demo"), **top):
    result = convert(project(services, **top), out_dir)
    doc = tomli.loads(result.text)
    assert doc == result.doc  # what is written is what was meant
    checked = check_source(load_text(result.text, "locald.toml"), out_dir / "locald.toml")
    assert checked.problems == []  # every output passes `locald validate`
    return result


def service(services: dict, name: str = "app", **kw) -> dict:
    return imported(services, **kw).doc["services"][name]


# --- mappings ---------------------------------------------------------------------------------------

def test_output_starts_with_the_schema_line_then_a_blank_line():
    text = imported({"app": {"image": "redis:7"}}).text
    first, second = text.splitlines()[:2]
    assert first.startswith("#:schema ") and second == ""


def test_image_command_entrypoint_workdir_user_map_to_locald_keys():
    s = service({"app": {"image": "redis:7", "command": ["redis-server", "--save", ""], "entrypoint": ["/bin/sh", "-c"],
                         "working_dir": "/srv", "user": "1000:1000"}})
    assert s == {"image": "redis:7", "command": ["redis-server", "--save", ""], "entrypoint": ["/bin/sh", "-c"],
                 "workdir": "/srv", "user": "1000:1000"}


def test_empty_command_or_entrypoint_clears_the_image_value_through_compose():
    s = service({"app": {"image": "redis:7", "entrypoint": [], "command": None}})
    assert "entrypoint" not in s and "command" not in s
    assert s["compose"] == {"entrypoint": []}


def test_build_maps_context_dockerfile_args_and_keeps_the_rest_in_compose(tmp_path):
    s = service({"app": {"build": {"context": str(tmp_path / "api"), "dockerfile": "Dockerfile.dev",
                                   "args": {"V": "1"}, "target": "dev", "cache_from": ["x"]}}}, out_dir=tmp_path)
    assert s["build"] == {"context": "./api", "dockerfile": "Dockerfile.dev", "args": {"V": "1"}}
    assert s["compose"] == {"build": {"target": "dev", "cache_from": ["x"]}}
    plain = service({"app": {"build": {"context": str(tmp_path), "dockerfile": "Dockerfile"}}}, out_dir=tmp_path)
    assert plain["build"] == "."


def test_a_remote_build_context_reaches_compose_as_the_url():
    url = "https://github.com/x/y.git#main:dir"
    s = service({"app": {"build": {"context": url, "dockerfile": "Dockerfile"}}})
    assert s["build"] == url
    assert s["compose"] == {"build": {"context": url}}  # the translator reads `build` as a local directory


def test_an_empty_dockerfile_stays_empty():
    """Compose prints `dockerfile: Dockerfile` unless the file set it empty (`dockerfile: ${UNSET}`)."""
    s = service({"app": {"build": {"context": "/srv/demo"}}})
    assert s["build"] == "." and s["compose"] == {"build": {"dockerfile": ""}}
    inline = service({"app": {"build": {"context": "/srv/demo", "dockerfile_inline": "FROM x"}}})
    assert inline["compose"] == {"build": {"dockerfile_inline": "FROM x"}}


def test_bind_paths_of_another_system_go_to_compose_untouched(tmp_path):
    vols = [{"type": "bind", "source": "C:\\data", "target": "/data", "bind": {"create_host_path": True}},
            {"type": "bind", "source": str(tmp_path / "src"), "target": "/src", "bind": {"create_host_path": True}},
            {"type": "volume", "source": "cache", "target": "/cache", "volume": {}}]
    result = imported({"app": {"image": "x", "volumes": vols}}, out_dir=tmp_path)
    s = result.doc["services"]["app"]
    assert "volumes" not in s
    assert s["compose"]["volumes"] == [vols[0], "./src:/src", "cache:/cache"]
    assert "another system" in result.notes["app"][0]


def test_build_args_without_value_stay_in_list_form():
    s = service({"app": {"build": {"context": "/srv/demo", "args": {"A": "1", "B": None}}}})
    assert s["compose"]["build"]["args"] == ["A=1", "B"]


def test_environment_becomes_env_and_unset_variables_keep_list_form():
    result = imported({"app": {"image": "x", "environment": {"A": "1", "B": "", "UNSET": None}}})
    s = result.doc["services"]["app"]
    assert s["env"] == {"A": "1", "B": ""}
    assert s["compose"]["environment"] == ["A=1", "B=", "UNSET"]
    assert "UNSET without a value" in result.notes["app"][0]


@pytest.mark.parametrize("template, expected, used", [
    ("plain $$5", "plain $5", set()),
    ("$A-${A}", "a-a", {"A"}),
    ("${UNSET}", "", set()),
    ("${UNSET:-x${A}y}", "xay", {"A"}),
    ("${UNSET-d}|${EMPTY-d}|${EMPTY:-d}", "d||d", {"EMPTY"}),
    ("${A:+alt}|${EMPTY+alt}|${EMPTY:+alt}|${UNSET+alt}", "alt|alt||", set()),
    ("${A:?needed}", "a", {"A"}),
])
def test_interpolation_follows_compose_and_knows_which_variables_went_in(template, expected, used):
    found = provenance.expand(template, {"A": "a", "EMPTY": ""})
    assert (found.value, found.used) == (expected, used)


@pytest.mark.parametrize("template", ["$", "${", "${A", "${A:x}", "$-", "${UNSET?gone}"])
def test_templates_compose_would_refuse_are_not_followed(template):
    assert provenance.expand(template, {"A": "a"}) is None


def test_env_files_map_to_env_file_and_optional_ones_stay_in_compose(tmp_path):
    required = [{"path": str(tmp_path / "a.env"), "required": True}]
    assert service({"app": {"image": "x", "env_file": required}}, out_dir=tmp_path)["env_file"] == ["./a.env"]
    optional = required + [{"path": str(tmp_path / "b.env"), "required": False}]
    s = service({"app": {"image": "x", "env_file": optional}}, out_dir=tmp_path)
    assert "env_file" not in s and s["compose"]["env_file"] == [{"path": "./a.env", "required": True},
                                                              {"path": "./b.env", "required": False}]


def test_dollar_is_literal_in_locald_toml():
    model = frontend.ComposeModel(unescape_all({"name": "d", "services": {"app": {
        "image": "x", "environment": {"PRICE": "$$5"}, "command": ["sh", "-c", "echo $$HOME"]}}}), [], Path("/"))
    s = tomli.loads(convert(model, Path("/srv")).text)["services"]["app"]
    assert s["env"]["PRICE"] == "$5" and s["command"][2] == "echo $HOME"
    assert escape_all(unescape_all(["a$$b $$$$"])) == ["a$$b $$$$"]


def port(target, published=None, **kw):
    return {"mode": "ingress", "target": target, **({"published": published} if published else {}), "protocol": "tcp", **kw}


def test_one_published_tcp_port_becomes_container_port_and_port():
    assert service({"app": {"image": "x", "ports": [port(80, "8080")]}}) | {} == {
        "image": "x", "container_port": 80, "port": 8080}
    loopback = service({"app": {"image": "x", "ports": [port(80, "8080", host_ip="127.0.0.1")]}})
    assert (loopback["container_port"], loopback["port"]) == (80, 8080)


def test_other_ports_stay_compose_ports_in_short_syntax_when_it_says_the_same():
    s = service({"app": {"image": "x", "ports": [
        port(80), port(53, "53", protocol="udp"), port(22, "2222", host_ip="::1"), port(81, "81", host_ip="0.0.0.0"),
        port(82, host_ip="127.0.0.1"), port(8080, "8080", name="web", app_protocol="http"),
        {"mode": "host", "target": 9, "published": "9", "protocol": "tcp"}]}})
    assert s["ports"] == ["80", "53:53/udp", "[::1]:2222:22", "0.0.0.0:81:81", "127.0.0.1::82",
                          port(8080, "8080", name="web", app_protocol="http"),
                          {"mode": "host", "target": 9, "published": "9", "protocol": "tcp"}]
    assert "container_port" not in s


def test_a_container_only_port_is_not_given_a_fixed_host_port():
    s = service({"app": {"image": "x", "ports": [port(80)]}})
    assert s["ports"] == ["80"] and "port" not in s


def test_two_services_on_the_same_host_port_do_not_clash_in_locald():
    doc = imported({"a": {"image": "x", "ports": [port(80, "7010", host_ip="127.0.0.1")]},
                    "b": {"image": "x", "ports": [port(80, "7010", host_ip="127.0.0.2")]}}).doc
    assert doc["services"]["a"]["port"] == 7010
    assert doc["services"]["b"]["ports"] == ["127.0.0.2:7010:80"]


def test_volumes_use_short_syntax_when_it_says_the_same(tmp_path):
    vols = [
        {"type": "bind", "source": str(tmp_path / "data"), "target": "/data", "bind": {"create_host_path": True}},
        {"type": "bind", "source": str(tmp_path / "cfg"), "target": "/cfg", "read_only": True,
         "bind": {"create_host_path": True}},
        {"type": "bind", "source": "/var/run/docker.sock", "target": "/sock", "bind": {"create_host_path": True}},
        {"type": "volume", "source": "cache", "target": "/cache", "volume": {}},
        {"type": "volume", "target": "/anon", "volume": {}},
        {"type": "bind", "source": str(tmp_path / "x"), "target": "/x", "bind": {"selinux": "z", "create_host_path": True}},
        {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": "1048576"}},
    ]
    s = service({"app": {"image": "x", "volumes": vols}}, out_dir=tmp_path)
    assert s["volumes"] == ["./data:/data", "./cfg:/cfg:ro", "/var/run/docker.sock:/sock", "cache:/cache", "/anon",
                            {"type": "bind", "source": "./x", "target": "/x", "bind": {"selinux": "z", "create_host_path": True}},
                            {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": "1048576"}}]


def test_paths_are_relative_to_locald_toml_when_they_share_a_root():
    rel = relative_paths(Path("/home/me/proj/app"))
    assert rel("/home/me/proj/app") == "."
    assert rel("/home/me/proj/app/src") == "./src"
    assert rel("/home/me/proj/shared") == "../shared"
    assert rel("/var/run/docker.sock") == "/var/run/docker.sock"
    assert rel("relative/stays") == "relative/stays"


def test_depends_on_conditions_and_required():
    s = service({"app": {"image": "x", "depends_on": {
        "db": {"condition": "service_healthy", "required": True},
        "mig": {"condition": "service_completed_successfully", "required": True},
        "cache": {"condition": "service_started", "required": False}}},
        "db": {"image": "x"}, "mig": {"image": "x"}, "cache": {"image": "x"}})
    assert s["depends_on"] == {"db": "healthy", "mig": "completed_successfully",
                               "cache": {"condition": "started", "required": False}}
    assert "compose" not in s


def test_depends_on_restart_is_kept_in_compose_and_explained():
    result = imported({"app": {"image": "x", "depends_on": {"db": {"condition": "service_healthy", "restart": True,
                                                                   "required": True}}}, "db": {"image": "x"}})
    s = result.doc["services"]["app"]
    assert s["depends_on"] == {"db": "healthy"}
    assert s["compose"] == {"depends_on": {"db": {"restart": True}}}
    assert "restart" in result.notes["app"][0]


def test_healthcheck_forms():
    def hc(**h):
        return service({"app": {"image": "x", "healthcheck": h}})

    assert hc(test=["CMD-SHELL", "pg_isready"])["health_check"] == "pg_isready"
    assert hc(test=["CMD", "redis-cli", "ping"], interval="2s", timeout="1s", retries=5, start_period="1m0s")[
        "health_check"] == {"command": ["redis-cli", "ping"], "interval": "2s", "timeout": "1s", "retries": 5,
                            "start_period": "1m0s"}
    start_interval = hc(test=["CMD", "true"], start_interval="1s")
    assert start_interval["health_check"] == {"command": ["true"]}
    assert start_interval["compose"] == {"healthcheck": {"start_interval": "1s"}}
    for off in ({"disable": True}, {"test": ["NONE"]}, {"interval": "3s"}):
        s = hc(**off)
        assert "health_check" not in s and s["compose"] == {"healthcheck": off}


@pytest.mark.parametrize("policy, expected, extra", [
    ("no", {}, None),
    ("always", {"restart": "always"}, None),
    ("on-failure", {"restart": "on-failure"}, None),
    ("on-failure:3", {"restart": "on-failure", "max_restarts": 3}, None),
    ("unless-stopped", {"restart": "always"}, {"restart": "unless-stopped"}),
])
def test_restart_policies(policy, expected, extra):
    s = service({"app": {"image": "x", "restart": policy}})
    assert {k: v for k, v in s.items() if k in ("restart", "max_restarts")} == expected
    assert s.get("compose") == extra


def test_stop_signal_and_grace_period():
    s = service({"app": {"image": "x", "stop_signal": "SIGUSR1", "stop_grace_period": "1m30s"}})
    assert (s["stop_signal"], s["stop_grace_period"]) == ("SIGUSR1", "1m30s")
    # SIGTERM is locald's default too, but written in compose it overrides the image's STOPSIGNAL.
    term = service({"app": {"image": "x", "stop_signal": "SIGTERM"}})
    assert term["stop_signal"] == "SIGTERM" and term["compose"] == {"stop_signal": "SIGTERM"}


def test_every_other_key_goes_verbatim_into_compose():
    extra = {"cap_add": ["NET_ADMIN"], "labels": {"a": "1"}, "container_name": "c", "init": False,
             "deploy": {"resources": {"limits": {"cpus": 0.5, "memory": "52428800"}}}, "x-note": "kept",
             "networks": {"front": None, "back": {"aliases": ["b"]}}, "profiles": ["debug"]}
    s = service({"app": {"image": "x", **extra}})
    assert s["compose"] == {**extra, "networks": {"front": {}, "back": {"aliases": ["b"]}}}


def test_what_compose_adds_to_every_service_is_not_repeated():
    s = service({"app": {"image": "x", "networks": {"default": None}, "command": None, "entrypoint": None}})
    assert s == {"image": "x"}


def test_nulls_inside_passthrough_values_are_dropped_as_compose_means_unset():
    s = service({"app": {"image": "x", "develop": {"watch": [{"path": "/srv/demo/a", "action": "sync",
                                                             "exec": {"command": None}}]}}})
    assert s["compose"] == {"develop": {"watch": [{"path": "./a", "action": "sync"}]}}


def test_top_level_resources_without_what_compose_derives():
    doc = imported({"app": {"image": "x"}},
                   networks={"default": {"name": "demo_default", "ipam": {}},
                             "front": {"name": "demo_front", "ipam": {}, "driver": "bridge"},
                             "shared": {"name": "elsewhere", "external": True}},
                   volumes={"data": {"name": "demo_data"}},
                   secrets={"pw": {"name": "demo_pw", "file": "/srv/demo/pw.txt"}},
                   configs={"c": {"name": "demo_c", "environment": "C"}},
                   **{"x-owner": "team"}).doc
    assert doc["compose"] == {"networks": {"front": {"driver": "bridge"}, "shared": {"name": "elsewhere", "external": True}},
                              "volumes": {"data": {}}, "secrets": {"pw": {"file": "./pw.txt"}},
                              "configs": {"c": {"environment": "C"}}, "x-owner": "team"}
    assert doc["project"] == {"name": "demo"}


# --- names --------------------------------------------------------------------------------------------

def test_invalid_service_names_are_renamed_with_references_and_an_alias():
    result = imported({
        "Api.V1": {"image": "x"},
        "web": {"image": "x", "depends_on": {"Api.V1": {"condition": "service_started", "required": True}},
                "links": ["Api.V1:api"], "volumes_from": ["Api.V1:ro", "container:abc"]},
        "side": {"image": "x", "network_mode": "service:Api.V1"}})
    doc = result.doc["services"]
    assert result.renamed == {"Api.V1": "api-v1"}
    assert doc["api-v1"]["compose"] == {"networks": {"default": {"aliases": ["Api.V1"]}}}
    assert doc["web"]["depends_on"] == {"api-v1": "started"}
    assert doc["web"]["compose"]["links"] == ["api-v1:api"]
    assert doc["web"]["compose"]["volumes_from"] == ["api-v1:ro", "container:abc"]
    assert doc["side"]["compose"]["network_mode"] == "service:api-v1"
    assert "renamed from 'Api.V1'" in result.notes["api-v1"][0]
    assert "# renamed from 'Api.V1'" in result.text


def test_locald_name():
    assert locald_name("WebFront") == "webfront"
    assert locald_name("api.v1") == "api-v1"
    assert locald_name("_x") == "x"


def test_a_rename_that_collides_is_refused_clearly():
    with pytest.raises(ImportRefused, match="'Web' .* would become 'web', which is already taken"):
        convert(project({"Web": {"image": "x"}, "web": {"image": "x"}}), Path("/srv"))


def test_a_service_without_image_or_build_is_refused():
    with pytest.raises(ImportRefused, match="service 'side' has neither `image` nor `build`"):
        convert(project({"side": {"command": ["true"]}}), Path("/srv"))


def test_a_provider_service_is_refused_as_not_supported_yet_by_name():
    with pytest.raises(ImportRefused, match=r"service 'database' uses compose's `provider` \(awesomecloud\), "
                                            "which is not supported yet"):
        convert(project({"app": {"image": "x"}, "database": {"provider": {"type": "awesomecloud"}}}), Path("/srv"))


def test_a_project_without_services_is_refused():
    with pytest.raises(ImportRefused, match="no services"):
        convert(project({}), Path("/srv"))


# --- the TOML writer ---------------------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
_scalar = st.one_of(_text, st.integers(-2**63, 2**63 - 1), st.booleans(),
                    st.floats(allow_nan=False, allow_infinity=False))
_value = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(_text, inner, max_size=4)), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_text, st.dictionaries(_text, _value, max_size=5), max_size=4))
def test_toml_writer_round_trips_any_json_like_value(doc):
    assert tomli.loads(toml_writer.dumps({"services": doc})) == {"services": doc}


def test_toml_writer_block_strings_stay_exact():
    script = 'set -e\necho "a \\"quoted\\" \\\\ word"\nprintf \'"""\'\nend"'
    text = toml_writer.dumps({"s": {"command": ["bash", "-c", script], "x": script + "\n"}})
    assert '"""' in text
    assert tomli.loads(text)["s"] == {"command": ["bash", "-c", script], "x": script + "\n"}


# --- the real front end: Docker Compose reads the files --------------------------------------------------------

@pytest.fixture
def fixture_copy(tmp_path):
    def copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(FIXTURES / name, dst)
        return dst
    return copy


def test_several_files_merge_in_order(engine, fixture_copy):
    d = fixture_copy("multi-file")
    result = import_compose(["compose.yaml", "compose.dev.yaml", "compose.ports.yaml"], workdir=d)
    web, cache = result.doc["services"]["web"], result.doc["services"]["cache"]
    assert web["env"] == {"LOG_LEVEL": "warn", "MODE": "development"}
    assert web["volumes"] == ["./html:/usr/share/nginx/html:ro", "./dev.conf:/etc/nginx/conf.d/dev.conf:ro"]
    assert (web["container_port"], web["port"]) == (80, 8080)
    assert cache["command"] == ["redis-server", "--appendonly", "no"]
    assert "compose.yaml, compose.dev.yaml, compose.ports.yaml" in result.text


def test_default_discovery_includes_the_override_file(engine, fixture_copy):
    d = fixture_copy("default-discovery")
    result = import_compose(workdir=d)
    assert result.doc["services"]["api"]["env"] == {"DEBUG": "1", "PORT": "8000"}
    assert "docker-compose.yml, docker-compose.override.yml" in result.text


def test_yaml_1_2_scalars_are_read_as_compose_reads_them(engine, fixture_copy):
    s = import_compose(workdir=fixture_copy("yaml12-scalars")).doc["services"]["sshd"]
    assert (s["container_port"], s["port"]) == (22, 2222)  # YAML 1.1 would read 2222:22 as 133342
    assert s["env"]["FEATURE_A"] == "on" and s["env"]["FEATURE_D"] == "no"


def test_interpolation_from_the_environment_and_dot_env(engine, fixture_copy):
    d = fixture_copy("interpolation")
    env = {k: v for k, v in os.environ.items() if k != "UNSET_VARIABLE_FOR_TEST"} | {"APP_PORT": "6006"}
    result = import_compose(workdir=d, env=env)
    s = result.doc["services"]["app"]
    assert s["image"] == "debian:bookworm-slim"
    # Only text of the compose file is written: defaults, alternates, literals, empty variables.
    assert s["env"] == {"WITH_DEFAULT": "fallback", "EMPTY_KEEPS": "", "EMPTY_DEFAULTS": "used", "ALT": "set",
                        "LITERAL": "cost: $5"}
    assert "FROM_DOT_ENV" in s["compose"]["environment"]  # ${FROM_DOT_ENV}: read again when the container starts
    assert "NESTED" not in str(s) and "from-dot-env" not in result.text
    assert s["command"] == ["sh", "-c", "echo $HOME and ${NOT_INTERPOLATED} && sleep infinity"]
    assert s["port"] == 6006
    assert result.resolved == {"FROM_DOT_ENV": "the project's .env", "EMPTY_IN_DOT_ENV": "the project's .env",
                               "APP_PORT": "your environment", "IMAGE_TAG": "the project's .env"}


def test_secrets_stay_out_of_locald_toml(engine, fixture_copy):
    """Issue 8 item 6: env files stay references, `${KEY}` and `- KEY` stay variables, a value made from
    another variable is left out with a note; nothing from the caller's environment or .env is written."""
    d = fixture_copy("env-secrets")
    docker_config = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")  # where the plugin is
    env = dict(os.environ, API_TOKEN="tok-from-shell", HOME="/home/someone", DOCKER_CONFIG=docker_config)
    result = import_compose(workdir=d, env=env)
    for secret in ("tok-from-shell", "/home/someone", "from-dot-env-secret", "npm-dot-env-token", "env-file-secret"):
        assert secret not in result.text
    api, worker = result.doc["services"]["api"], result.doc["services"]["worker"]
    assert api["env_file"] == ["./secrets.env"]
    assert api["env"] == {"APP_NAME": "shop", "LOG_LEVEL": "debug"}
    assert api["compose"]["environment"] == ["HOME", "API_TOKEN", "APP_NAME=shop", "LOG_LEVEL=debug"]
    assert any("DATABASE_URL (postgres://app:${DB_PASSWORD}@db/app) left out" in n for n in result.notes["api"])
    assert worker["compose"]["build"]["args"] == ["NODE_VERSION=20", "NPM_TOKEN"]
    assert any("NPM_TOKEN came from the project's .env" in n for n in result.notes["worker"])
    assert result.resolved == {"API_TOKEN": "your environment", "DB_PASSWORD": "the project's .env",
                               "NPM_TOKEN": "the project's .env"}
    assert result.unwritten == {"api": ["HOME", "API_TOKEN", "DATABASE_URL"], "worker": ["NPM_TOKEN"]}


def test_cli_says_which_variables_it_resolved_and_from_where(engine, fixture_copy):
    d = fixture_copy("env-secrets")
    done = run_locald("import", "compose", cwd=d, env=dict(os.environ, API_TOKEN="tok-from-shell"))
    assert done.returncode == 0, done.stderr
    resolved = [line for line in done.stderr.splitlines() if line.startswith("resolved ")]
    assert resolved == ["resolved ${API_TOKEN} from your environment", "resolved ${DB_PASSWORD} from the project's .env",
                        "resolved ${NPM_TOKEN} from the project's .env"]
    assert "tok-from-shell" not in (d / "locald.toml").read_text() + done.stderr


def test_anchors_and_merge_keys(engine, fixture_copy):
    doc = import_compose(workdir=fixture_copy("yaml-merge-keys")).doc["services"]
    assert doc["worker"]["env"] == {"LANG": "C.UTF-8", "TZ": "UTC"}
    assert doc["api"]["env"] == {"LANG": "C.UTF-8", "ROLE": "api", "TZ": "UTC"}
    assert doc["api"]["compose"]["logging"] == {"driver": "json-file", "options": {"max-size": "10m"}}


def test_build_ssh_keys_are_read_from_composes_yaml_output(engine, fixture_copy):
    """`config --format json` fails on an ssh key with a path (Compose 2.40): the front end falls back to
    YAML instead of reporting that Compose "cannot load" the file."""
    s = import_compose(workdir=fixture_copy("build-ssh")).doc["services"]["app"]
    assert s["build"] == "."
    assert sorted(s["compose"]["build"]["ssh"]) == ["default", "deploy=./keys/deploy_ed25519"]  # in no fixed order
    assert s["compose"]["cpus"] == 0.00001  # YAML 1.2's 1e-05, a float


def test_remote_contexts_and_windows_binds_are_exported_as_written(engine, fixture_copy, tmp_path):
    from locald.compose.export import export_project
    from locald.config import load_project

    for name in ("remote-build", "windows-paths"):
        d = fixture_copy(name)
        (d / "locald.toml").write_text(import_compose(workdir=d).text)
        doc = yaml.safe_load(export_project(load_project(d / "locald.toml"), tmp_path / name / "out.yaml")[0])
        services = doc["services"]
        if name == "remote-build":
            assert services["from-https"]["build"]["context"] == "https://github.com/docker/getting-started.git#main:app"
            assert services["from-ssh"]["build"]["context"] == "git@github.com:docker/getting-started.git#main"
            assert services["unset-dockerfile"]["build"]["dockerfile"] == ""
        else:
            sources = [v["source"] for v in services["app"]["volumes"][:4]]
            assert sources == ["C:\\data", "c:/forward/slashes", "\\\\server\\share", "D:\\"]


def test_empty_resource_names_stay_empty(engine, fixture_copy):
    compose = import_compose(workdir=fixture_copy("empty-names")).doc["compose"]
    assert compose["networks"] == {"front": {"name": ""}, "outside": {"external": True, "name": ""}}
    assert compose["volumes"] == {"data": {"name": ""}, "shared": {"external": True, "name": ""}}
    assert compose["secrets"]["token"] == {"name": "", "file": "./token.txt"}
    assert compose["configs"]["settings"] == {"name": "", "file": "./settings.ini"}


def test_cli_refuses_a_provider_service_by_name(engine, fixture_copy):
    d = fixture_copy("provider")
    done = run_locald("import", "compose", cwd=d)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "service 'database' uses compose's `provider` (awesomecloud), which is not supported yet" in done.stderr
    assert not (d / "locald.toml").exists()


def test_cli_writes_a_file_that_validates_and_refuses_to_overwrite(engine, fixture_copy):
    d = fixture_copy("up-stack")
    done = run_locald("import", "compose", cwd=d)
    assert done.returncode == 0, done.stderr
    assert "wrote locald.toml: 4 services" in done.stderr
    assert run_locald("validate", cwd=d).returncode == 0
    again = run_locald("import", "compose", cwd=d)
    assert again.returncode == 1 and "already exists: pass --force" in again.stderr
    assert run_locald("import", "compose", "--force", cwd=d).returncode == 0
    printed = run_locald("import", "compose", "-o", "-", cwd=d)
    assert printed.stdout == (d / "locald.toml").read_text()


def test_cli_refuses_an_invalid_compose_file_without_a_traceback(engine, tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: x\n    network: front\n")
    done = run_locald("import", "compose", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("locald: Docker Compose cannot load")
    assert "additional properties 'network' not allowed" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "locald.toml").exists()


def test_cli_says_what_to_install_without_docker_compose(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: x\n")
    done = run_locald("import", "compose", cwd=tmp_path, env={"PATH": str(tmp_path), "HOME": str(tmp_path)})
    assert done.returncode == 1 and "needs Docker Compose v2" in done.stderr and "Traceback" not in done.stderr


def test_cli_names_a_missing_file(tmp_path):
    done = run_locald("import", "compose", "nope.yaml", cwd=tmp_path)
    assert done.returncode == 1 and "no such compose file" in done.stderr


def test_python_m_locald_runs_the_import_without_python_on_whales(engine, fixture_copy):
    d = fixture_copy("profiles")
    code = ("import sys, locald.cli as c; sys.argv=['locald','import','compose','-o','-']\n"
            "try: c.main()\nexcept SystemExit: pass\nassert 'python_on_whales' not in sys.modules")
    import subprocess

    done = subprocess.run([sys.executable, "-c", code], cwd=d, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert 'profiles = ["debug"]' in done.stdout


# --- the module map: one mapping, no import circle (issue 9) -------------------------------------------------

def _modules_after_import(module: str) -> set[str]:
    import subprocess

    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(done.stdout.split())


def test_the_mapping_tables_import_nothing_from_config():
    loaded = _modules_after_import("locald.compose.mapping")
    assert not {m for m in loaded if m.startswith("locald.config")}


def test_adoption_does_not_go_through_the_importer():
    """config → compose.adopt → compose.importer → config was a circle: adoption needs only the mapping."""
    loaded = _modules_after_import("locald.compose.adopt")
    assert "locald.compose.importer" not in loaded and "locald.compose.mapping" in loaded


def test_no_private_name_is_imported_from_another_module():
    import ast

    found = []
    for path in [*(ROOT / "locald").rglob("*.py"), *(ROOT / "compat").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert found == []
