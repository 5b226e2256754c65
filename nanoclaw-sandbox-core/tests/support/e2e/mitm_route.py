"""mitmproxy 8 addon for the nanoclaw end-to-end tests.

Maps test host names to local servers, so mitmproxy never resolves a name
itself: `--set nanoclaw_routes=upstream.test=127.0.0.1:41234,other.test=...`.
A name without a route is refused (the connection is killed), which keeps a
stray request from ever turning into a real DNS lookup.

Hook API (mitmproxy 7/8): `server_connect(data: ServerConnectionHookData)`
runs before mitmproxy opens the upstream connection; changing
`data.server.address` redirects it, setting `data.server.error` kills it.
"""

from mitmproxy import ctx


def parse_routes(text):
    routes = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, _, target = entry.partition("=")
        host, _, port = target.rpartition(":")
        routes[name] = (host, int(port))
    return routes


class RouteTestNames:
    def load(self, loader):
        loader.add_option(
            name="nanoclaw_routes",
            typespec=str,
            default="",
            help="name=host:port,... : where each test name really lives",
        )

    def server_connect(self, data):
        name, port = data.server.address
        target = parse_routes(ctx.options.nanoclaw_routes).get(name)
        if target is None:
            data.server.error = f"nanoclaw test route: no route for {name}:{port}"
            ctx.log.warn(data.server.error)
            return
        # Verify the upstream against the test name, not the address we
        # redirect to: without an SNI mitmproxy would fall back to the IP.
        if data.server.sni is None:
            data.server.sni = name
        data.server.address = target
        ctx.log.info(f"nanoclaw test route: {name}:{port} -> {target[0]}:{target[1]}")


addons = [RouteTestNames()]
