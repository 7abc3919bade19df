"""The simulator as a real HTTP server on localhost, for clients in other processes.

In-process clients use the simulator as their transport (``Simulator.client()``). A server
is for what that cannot do: a client process that is killed mid-request while the simulated
API, like the real one, keeps what it billed (crash tests), a whole program pointed at it as
if it were the real API (``ANTHROPIC_BASE_URL``, a dummy key), or a client in another language.

    python -m convolab.sim.http_server --port 8765 --journal billed.jsonl --fault 429=0.05 --fault lost=0.01
    ANTHROPIC_BASE_URL=http://127.0.0.1:8765 ANTHROPIC_API_KEY=sim convolab eval ... --live

Faults (``convolab.sim.faults``): ``--fault KIND=RATE`` draws them per request from the seeded
generator (429 with ``retry-after`` of ``--retry-after`` seconds, 529 overloaded, 500,
``timeout``: no answer, ``lost``: processed and billed, then the connection is dropped);
``--schedule '[null, 429, "lost"]'`` fails the requests at those positions instead.
``--latency S`` makes every request really take S seconds (requests in flight for a crash
test); ``--batch-seconds S`` is how long a message batch takes. The journal gets one JSON line
per request, written before the answer leaves: what was billed survives any client crash.
``--port 0`` picks a free port; the first line printed is ``simulated Claude on http://HOST:PORT``.

``serve()`` runs the same ``Simulator.handle`` behind ``http.server.ThreadingHTTPServer`` from
the standard library; streaming answers are sent whole (the SDK parses them the same way).
"""

from __future__ import annotations

import argparse
import json
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

        do_GET = do_POST = do_DELETE = _answer

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
    simulator = simulator or Simulator()
    server = _Server((host, port), _handler(simulator))
    simulator.batches.base_url = f"http://{host}:{server.server_address[1]}"  # batches' results_url
    if background:
        threading.Thread(target=server.serve_forever, name="convolab-sim-http", daemon=True).start()
    return server


def _fault(text: str) -> tuple[str, float]:
    kind, _, rate = text.partition("=")
    try:
        return kind.strip(), float(rate)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KIND=RATE, e.g. 429=0.05 or lost=0.01") from None


def _schedule(text: str) -> list:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a JSON list such as '[null, 429, \"lost\"]'") from None
    if not isinstance(value, list):
        raise argparse.ArgumentTypeError("--schedule: expected a JSON list")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m convolab.sim.http_server", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0: a free port")
    p.add_argument("--journal", help="append one JSON line per request to this file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fault", type=_fault, action="append", default=[], metavar="KIND=RATE",
                   help="inject a fault at this rate: 429, 529, 500, timeout or lost (repeat)")
    p.add_argument("--schedule", type=_schedule, help="faults by request position, a JSON list")
    p.add_argument("--retry-after", type=float, default=0.01, help="seconds a 429 asks to wait (default 0.01)")
    p.add_argument("--latency", type=float, default=0.0, help="real seconds every request takes")
    p.add_argument("--batch-seconds", type=float, default=0.0, help="seconds a message batch takes to process")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.fault and args.schedule is not None:
        raise SystemExit("give --fault or --schedule, not both")
    faults = args.schedule if args.schedule is not None else dict(args.fault) or None
    try:
        sim = Simulator(seed=args.seed, journal=args.journal, faults=faults, retry_after=args.retry_after,
                        latency=args.latency or None, real_sleep=args.latency > 0, batch_seconds=args.batch_seconds)
    except ValueError as e:
        raise SystemExit(f"python -m convolab.sim.http_server: {e}") from None
    server = serve(sim, host=args.host, port=args.port, background=False)
    print(f"simulated Claude on http://{args.host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
