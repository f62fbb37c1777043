"""Host processes: launch (env, cwd, command), runner (one service's loop), probes, restart policy,
process groups, and runtime.ProcessRuntime (what the coordinator talks to)."""
