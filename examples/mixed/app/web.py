"""The web app: a stdlib HTTP server on $PORT that reads and writes Redis."""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import resp


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        with resp.connect() as sock:
            if self.path == "/health":
                body = resp.command(sock, "PING")
            else:
                hits = resp.command(sock, "INCR", "hits")
                body = (f"hits={hits} schema_version={resp.command(sock, 'GET', 'schema_version')} "
                        f"jobs_done={resp.command(sock, 'GET', 'jobs_done')}")
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body.encode() + b"\n")

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


port = int(os.environ["PORT"])
print(f"listening on http://localhost:{port}", flush=True)
ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
