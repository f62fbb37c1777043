"""The dashboard: one web page for every running locald project of this OS user, live.

Served by the named-URL proxy at http://locald.localhost:<proxy port> when it runs (the proxy hands it
every request for that host), else by `locald dashboard` itself on a 127.0.0.1 port. Same user only,
even over TCP: each connection's owner is looked up in /proc/net/tcp; actions also need a token that
only this user can read and the page's own Origin.

    registry.py   which projects run: one file per running supervisor (written by the supervisor)
    peer.py       the uid behind a loopback TCP connection (/proc/net/tcp{,6})
    access.py     who may read (Host, uid, Origin) and who may act (+ token)
    view.py       status rows, tones and the graph's layout: what the page draws (pure)
    follow.py     followers of log files and of `docker` children (only while a page is open)
    logbook.py    the lines seen, numbered: a late page gets every service's recent lines in order
    watch.py      the running projects seen from outside: control channel, state.json, logs
    hub.py        the connected pages and the watch that runs only while there is one
    server.py     the aiohttp handler: page, static files, event stream, actions; the proxy's hook
    standalone.py `locald dashboard`: the URL, or a server of its own
    static/       index.html, app.js, style.css; vendor/ansi_up.js renders ANSI colours

Importing this package is cheap (the supervisor imports registry.py); aiohttp loads in server.py only.
"""

HOST = "locald.localhost"  # the proxy serves the dashboard on this host name
