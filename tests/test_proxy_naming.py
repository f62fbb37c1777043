"""Which host each service answers on, and which ports the proxy tries (pure functions)."""

from __future__ import annotations

import textwrap

import pytest

from locald.config import load_project
from locald.errors import LocaldError
from locald.plan import make_plan
from locald.proxy import listen
from locald.proxy.naming import dns_label, host_of, project_domain, public_url, routes_of


def project(tmp_path, toml: str):
    (tmp_path / "locald.toml").write_text(textwrap.dedent(toml))
    return load_project(tmp_path / "locald.toml")


SHOP = """
    [project]
    name = "Shop_App"

    [services.web]
    command = "serve"
    port = 3000

    [services.api]
    command = "api"
    port = 3001

    [services.jobs]
    type = "worker"
    command = "work"

    [services.cache]
    image = "redis:7"

    [services.admin_ui]
    image = "nginx"
    container_port = 80

    [services.docs]
    image = "docs-site"

    [services.front]
    command = "front"
    env = { API = "${services.api.public_url}", COOKIE_DOMAIN = "${services.web.domain}", DIRECT = "${services.api.url}" }
    """


def test_web_on_the_domain_others_below_it(tmp_path):
    p = project(tmp_path, SHOP)
    assert project_domain(p) == "shop-app.localhost"
    assert host_of(p, "web") == "shop-app.localhost"
    assert host_of(p, "api") == "api.shop-app.localhost"
    assert host_of(p, "admin_ui") == "admin-ui.shop-app.localhost"


def test_only_http_services_with_a_port_get_a_route(tmp_path):
    p = project(tmp_path, SHOP)
    previous = {"cache": 40001, "admin_ui": 40002, "docs": 40003}
    plan = make_plan(p, {"cache": 6379, "docs": 8000}, previous, check_free=False)
    routes = routes_of(plan, ["cache", "jobs", "web", "api", "admin_ui", "docs"])
    assert [(r.host, r.service, r.port) for r in routes] == [
        ("shop-app.localhost", "web", 3000), ("api.shop-app.localhost", "api", 3001),
        ("admin-ui.shop-app.localhost", "admin_ui", 40002), ("docs.shop-app.localhost", "docs", 40003)]
    # no worker, no redis; and a container whose port inside is not known publishes nothing
    assert [r.service for r in routes_of(make_plan(p, {}, previous, check_free=False), ["docs"])] == []


def test_domain_and_public_url_references(tmp_path):
    p = project(tmp_path, SHOP)
    env = make_plan(p, check_free=False, proxy_port=8080).env("front")
    assert env == {"API": "http://api.shop-app.localhost:8080", "COOKIE_DOMAIN": "shop-app.localhost",
                   "DIRECT": "http://localhost:3001"}
    # without the proxy (LOCALD_PROXY=off, or `locald export compose`), public_url is the direct URL
    assert make_plan(p, check_free=False).env("front")["API"] == "http://localhost:3001"
    assert make_plan(p, check_free=False, proxy_port=80).env("front")["API"] == "http://api.shop-app.localhost"


def test_configured_domain_and_service_named_like_the_project(tmp_path):
    p = project(tmp_path, """
        [project]
        name = "blog"
        domain = "Blog.Test"

        [services.blog]
        command = "serve"

        [services.assets]
        command = "assets"
        """)
    assert host_of(p, "blog") == "blog.test"
    assert host_of(p, "assets") == "assets.blog.test"


def test_a_name_without_letters_takes_the_directory(tmp_path):
    shop = tmp_path / "Shop"
    shop.mkdir()
    p = project(shop, """
        [project]
        name = "日本"

        [services.web]
        command = "serve"
        """)
    assert host_of(p, "web") == "shop.localhost"


def test_labels_and_urls():
    assert dns_label("My_App 2") == "my-app-2"
    assert public_url("shop.localhost", "http", 80) == "http://shop.localhost"
    assert public_url("shop.localhost", "https", 8443) == "https://shop.localhost:8443"


def test_port_candidates(monkeypatch):
    monkeypatch.delenv("LOCALD_HTTP_PORT", raising=False)
    assert listen.candidates("http", None) == ([80, 8080], False)
    assert listen.candidates("https", None) == ([443, 8443], False)
    assert listen.candidates("http", 8080) == ([8080, 80], False)  # sticky first
    monkeypatch.setenv("LOCALD_HTTP_PORT", "9000, 9001")
    assert listen.candidates("http", 8080) == ([9000, 9001], True)
    monkeypatch.setenv("LOCALD_HTTP_PORT", "eighty")
    with pytest.raises(LocaldError, match="LOCALD_HTTP_PORT must be a port number"):
        listen.candidates("http", None)
