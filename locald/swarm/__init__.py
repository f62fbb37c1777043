"""Docker Swarm: the container side of a stack as a swarm stack, deployed in dependency waves.

  stackfile.py  the export document → a stack file, its dependency conditions, and what Swarm drops
  ports.py      published ports → Swarm's long syntax, host mode
  build.py      a project → plan, stack and notes; stack names; `export compose --target swarm`
  cluster.py    questions to the swarm through the docker CLI: manager, jobs, services and tasks
  progress.py   one service's standing from its task states (pure)
  deploy.py     `deploy swarm`: one `docker stack deploy` per wave, waiting on task states
  manage.py     `status --swarm` and `down --swarm`
"""
