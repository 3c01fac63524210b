"""The simulator over HTTP on loopback: Braze's REST paths, plus the ``/_sim/`` control endpoints."""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from local.braze_simulator.simulator import BrazeSimulator
from local.loopback import LoopbackServer, QuietHandler

JSON = dict[str, Any]


def _requests(simulator: BrazeSimulator) -> JSON:
    with simulator.lock:
        return {"requests": list(simulator.requests)}


def _objects(simulator: BrazeSimulator) -> JSON:
    with simulator.lock:
        return {"objects": [{"kind": s.kind, "object": s.obj, "at": s.at} for s in simulator.stored]}


_VIEWS: dict[str, Callable[[BrazeSimulator], JSON]] = {
    "/_sim/requests": _requests,
    "/_sim/objects": _objects,
    "/_sim/stats": BrazeSimulator.stats,
}


class _SimulatorHandler(QuietHandler):
    simulator: BrazeSimulator

    def _send(self, status: int, body: JSON | str, headers: JSON | None = None) -> None:
        payload = (json.dumps(body) if not isinstance(body, str) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        view = next((view for prefix, view in _VIEWS.items() if self.path.startswith(prefix)), None)
        if view is None:
            self._send(404, {"message": "Not Found"})
        else:
            self._send(200, view(self.simulator))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/_sim/faults":
            self.simulator.set_faults(json.loads(raw or b"{}"))
            self._send(200, asdict(self.simulator.faults))
        elif self.path == "/_sim/reset":
            self.simulator.reset()
            self._send(200, {"reset": True})
        else:
            self._braze(raw)

    def _braze(self, raw: bytes) -> None:
        status, body, headers, delay = self.simulator.handle(self.path, self.headers.get("Authorization"), raw)
        if delay:
            time.sleep(delay)
        if status is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(status, body, headers)


class SimulatorServer(LoopbackServer):
    """The simulator on a loopback port, in a background thread."""

    def __init__(self, simulator: BrazeSimulator | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.simulator = simulator or BrazeSimulator()
        super().__init__(type("Handler", (_SimulatorHandler,), {"simulator": self.simulator}), host, port,
                         "braze-simulator")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description="Braze REST API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000)
    parser.add_argument("--api-key", default="local-braze-key")
    args = parser.parse_args()
    server = SimulatorServer(BrazeSimulator(args.api_key), args.host, args.port)
    print(f"Braze simulator on {server.url}", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
