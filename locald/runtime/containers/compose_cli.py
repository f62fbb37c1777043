"""The `docker compose` command line of a generated project, built in one place: python-on-whales'
client configuration, so our own Popen calls (streams, builds from stdin, `compose run`) and
python-on-whales' verbs always agree on files, project name, directory and the ignored `.env`."""

from __future__ import annotations

import os
from pathlib import Path


def compose_client(compose_files: list[str | Path], project_name: str, root: Path):
    """A python-on-whales DockerClient for the project (imported here only: it costs ~180 ms).
    `compose_env_files=[os.devnull]`: the user's `.env` is never interpolated behind their back."""
    from python_on_whales import DockerClient

    return DockerClient(compose_files=list(compose_files), compose_project_name=project_name,
                        compose_project_directory=root, compose_env_files=[os.devnull])


def compose_argv(compose_files: list[str | Path], project_name: str, root: Path) -> list[str]:
    """`docker compose --file … --env-file /dev/null --project-name … --project-directory …` as a list.
    A file of "-" reads the document from stdin."""
    return [str(part) for part in compose_client(compose_files, project_name, root).client_config.docker_compose_cmd]
