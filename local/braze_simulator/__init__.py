"""A Braze REST API simulator: a real HTTP server on loopback for the local stack, the demo and the tests.

It checks what Braze checks (:mod:`.rules`: the Bearer key, request shape and limits, identifiers, reserved and
``$`` keys, string lengths, purchase fields), answers as Braze answers (201 ``success``, ``errors[]`` for refused
objects, 400 when nothing is valid, 401, 429 with ``X-RateLimit-*`` headers), and records every object it accepted
so a test can ask what Braze stored and how many times (:mod:`.simulator`). Faults and rate-limit windows
(:mod:`.faults`) are set through ``POST /_sim/faults``.

Control endpoints (:mod:`.server`, no key needed): ``GET /_sim/requests`` (each request's path, status, size and
JSON body; the Authorization header is never kept), ``GET /_sim/objects``, ``GET /_sim/stats``,
``POST /_sim/faults``, ``POST /_sim/reset``. A body that is not strictly JSON (not UTF-8, ``NaN``, ``Infinity``, a
lone surrogate escape) is answered 400, as a JSON parser that follows the standard answers it.

Run it alone: ``python -m local.braze_simulator --port 4000 --api-key local-braze-key``.
"""

from local.braze_simulator.faults import Faults
from local.braze_simulator.server import SimulatorServer
from local.braze_simulator.simulator import BrazeSimulator, Stored

__all__ = ["BrazeSimulator", "Faults", "SimulatorServer", "Stored"]
