"""The simulator as a real HTTP server on localhost, for clients in other processes.

In-process clients use the simulator as their transport (``Simulator.client()``). A server
is for what that cannot do: a client process that is killed mid-request while the simulated
API, like the real one, keeps what it billed (crash tests), or a client in another language.

    python -m convolab.sim.http --port 8765 --journal billed.jsonl
    client = anthropic.Anthropic(base_url="http://127.0.0.1:8765", api_key="sim")

``serve()`` runs the same ``Simulator.handle`` behind ``http.server.ThreadingHTTPServer`` from
the standard library; streaming answers are sent whole (the SDK parses them the same way).
"""

from __future__ import annotations

import argparse
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from convolab.sim.faults import SimulatedTimeout
from convolab.sim.server import Simulator


def _handler(sim: Simulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                response = sim.handle(self.command, url.path, dict(parse_qsl(url.query)), body, headers)
            except SimulatedTimeout:  # the client must see no answer: drop the connection
                self.close_connection = True
                return
            content = response.read()
            self.send_response(response.status_code)
            for k, v in response.headers.items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the journal is the log
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer (killed, timed out) is normal here, not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serve(simulator: Simulator | None = None, *, host: str = "127.0.0.1", port: int = 0,
          background: bool = True) -> ThreadingHTTPServer:
    """Start serving ``simulator`` (a new default one if None) and return the server.

    ``port=0`` picks a free port (``server.server_address[1]``). With ``background=True`` it
    serves from a daemon thread; call ``server.shutdown()`` to stop.
    """
    server = _Server((host, port), _handler(simulator or Simulator()))
    if background:
        threading.Thread(target=server.serve_forever, name="convolab-sim-http", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m convolab.sim.http", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--journal", help="append one JSON line per request to this file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    server = serve(Simulator(seed=args.seed, journal=args.journal), host=args.host, port=args.port, background=False)
    print(f"simulated Claude on http://{args.host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
