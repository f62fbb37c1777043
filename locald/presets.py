"""What the `postgres` preset and well-known images imply: image, port, credentials, URL scheme."""

from __future__ import annotations

from .config.model import ContainerService, Service

POSTGRES_DEFAULT_VERSION = "16"
POSTGRES_PORT = 5432
POSTGRES_DATA = "/var/lib/postgresql/data"

# URL scheme by image name, so ${services.cache.url} is redis://… for a Redis container.
_SCHEMES = {"redis": "redis", "valkey": "redis", "postgres": "postgres", "postgis": "postgres",
            "mysql": "mysql", "mariadb": "mysql", "mongo": "mongodb", "rabbitmq": "amqp", "memcached": "memcached",
            "nats": "nats"}


def image_of(service: ContainerService) -> str | None:
    if service.kind == "postgres":
        return service.image or f"postgres:{service.version or POSTGRES_DEFAULT_VERSION}"
    return service.image


def container_port_of(service: ContainerService) -> int | None:
    """The configured container port, or the preset's; None: ask the image."""
    if service.container_port:
        return service.container_port
    return POSTGRES_PORT if service.kind == "postgres" else None


def postgres_credentials(service: ContainerService) -> dict[str, str]:
    """POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB; the service's `env` may override each."""
    user = service.env.get("POSTGRES_USER", "postgres")
    return {
        "POSTGRES_USER": user,
        "POSTGRES_PASSWORD": service.env.get("POSTGRES_PASSWORD", "postgres"),
        "POSTGRES_DB": service.env.get("POSTGRES_DB", user),
    }


def url_scheme(service: Service) -> str:
    if service.kind == "postgres":
        return "postgres"
    if isinstance(service, ContainerService) and service.image:
        repo = service.image.split("@")[0].rsplit("/", 1)[-1].split(":")[0]
        return _SCHEMES.get(repo, "http")
    return "http"


def url_suffix(service: Service, netloc: str) -> str:
    """Everything after `scheme://`: credentials and database for postgres, else the host:port."""
    if service.kind == "postgres":
        c = postgres_credentials(service)
        return f"{c['POSTGRES_USER']}:{c['POSTGRES_PASSWORD']}@{netloc}/{c['POSTGRES_DB']}"
    return netloc
