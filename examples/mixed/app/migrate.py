"""One-shot job: 'migrate' the database, then exit 0 so its dependents may start."""

import resp

with resp.connect() as sock:
    resp.command(sock, "SET", "schema_version", "1")
print("migrated to schema_version 1")
