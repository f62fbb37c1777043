"""Background worker: does a unit of work every second."""

import time

import resp

with resp.connect() as sock:
    while True:
        done = resp.command(sock, "INCR", "jobs_done")
        print(f"job {done} done", flush=True)
        time.sleep(1)
