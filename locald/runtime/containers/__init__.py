"""Container services: images (build, pull, inspect before planning), compose_cli (the compose argv),
runtime.ContainerRuntime (what the coordinator talks to), engine (quick docker CLI questions, always
filtered to this locald.toml's containers), watch (engine events → fresh snapshots for readiness),
readiness (when a snapshot meets a condition), sync (`watch` files into a running container), errors
(what went wrong, in words)."""
