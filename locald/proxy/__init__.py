"""Named URLs: one reverse proxy per OS user, shared by every running locald project.

`http://shop.localhost` instead of `http://localhost:5123`. The proxy is its own process (started on
demand by the first `locald up` that has something to route, gone once no project uses it); a running
stack talks to it only through a `Registration` (client.py), whose routes live exactly as long as
that registration's connection: a supervisor that dies takes its routes with it.

Importing this package is cheap: aiohttp and cryptography load in the proxy process only.

    naming.py    which host each service answers on (pure)
    routes.py    the route table: claims, conflicts, lookups (pure)
    dirs.py      the per-user private directories
    listen.py    which ports the proxy listens on (80/443, else 8080/8443; sticky)
    daemon.py    find or start the proxy process
    client.py    a project's registration (supervisor side)
    server.py    the proxy process: control socket, HTTP and HTTPS listeners (aiohttp)
    forward.py   HTTP, streaming and WebSocket forwarding (aiohttp)
    pages.py     the 404 and 503 pages
    ca.py        the local certificate authority and per-host certificates (cryptography)
    trust.py     `locald trust`: the CA in the system's trust store
"""
