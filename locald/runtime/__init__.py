"""Running a plan: containers (compose), host processes, the coordinator, state."""
