"""Container services: images (build, pull, inspect before planning), compose_cli (the compose argv),
runtime.ContainerRuntime (what the coordinator talks to), engine (quick docker CLI questions), watch
(engine events → fresh snapshots for readiness), errors (what went wrong, in words)."""
