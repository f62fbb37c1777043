"""`locald export compose`: a plain compose file of the container side, for teammates.

Same translator as the runtime (translate.to_compose, export=True): full container config, fixed
host ports, paths relative to the written file, no locald labels. Host processes cannot live in a
compose file; they are left out and every loss is reported as a warning.
"""

from __future__ import annotations

from pathlib import Path

from ..config.model import Project
from ..plan import Plan, make_plan
from .fileformat import dump_yaml
from .translate import to_compose

HEADER = ("# Exported by `locald export compose` from {file}.\n"
          "# Container services only{processes}. Start with: docker compose -f {name} up -d --wait\n")


def export_compose(plan: Plan, base_dir: Path | None = None, file_name: str = "compose.yaml") -> tuple[str, list[str]]:
    """YAML text and warnings (what a compose file cannot carry). base_dir: where the file will be
    written (relative paths are computed from there; default the project root)."""
    doc = to_compose(plan, export=True, base_dir=base_dir)
    warnings = _warnings(plan)
    processes = [s.name for s in plan.project.processes]
    header = HEADER.format(file=plan.project.file.name, name=file_name,
                           processes=f"; host processes left out: {', '.join(processes)}" if processes else "")
    text = header + dump_yaml(doc)
    return text, warnings


def _warnings(plan: Plan) -> list[str]:
    project = plan.project
    out: list[str] = []
    processes = project.processes
    if processes:
        out.append("host processes left out (compose runs containers only): "
                   + ", ".join(f"{s.name} ({s.kind})" for s in processes))
    dropped = []
    for s in project.services.values():
        for dep in s.depends_on:
            target = project.services.get(dep.name)
            if target is None or (s.is_container and target.is_container):
                continue
            dropped.append(f"{s.name} → {dep.name}")
    if dropped:
        out.append("dependency edges dropped (one side is a host process): " + ", ".join(dropped))
    for s in project.containers:
        if s.adopted:
            continue
        refs = sorted({p.name for p in processes if f"${{services.{p.name}." in " ".join(s.env.values())})
        if refs:
            many = len(refs) > 1
            out.append(f"{s.name}: its env points at host process{'es' if many else ''} "
                       + ", ".join(f"{r} (host.docker.internal:{plan.ports.get(r)})" for r in refs)
                       + (": start them yourself on those ports" if many else ": start it yourself on that port"))
        if s.port is not None and plan.container_ports.get(s.name) is None:
            out.append(f"{s.name}: port {s.port} is not published: the port inside the container is unknown "
                       "(set `container_port` in locald.toml)")
    return out


def export_plan(project: Project) -> Plan:
    """The plan an export starts from: no port probing, images' exposed ports when an engine knows
    them, last run's ports."""
    from ..runtime.containers.images import known_exposed_ports
    from ..runtime.state import read_ports

    return make_plan(project, known_exposed_ports(project), read_ports(project.state_dir), check_free=False)


def export_project(project: Project, output: Path | None) -> tuple[str, list[str]]:
    """The CLI's entry: plan, translate, YAML."""
    plan = export_plan(project)
    base = output.resolve().parent if output else None
    return export_compose(plan, base_dir=base, file_name=output.name if output else "compose.yaml")
