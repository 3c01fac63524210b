"""``make local``: the local stack left running for manual use, until Ctrl-C.

The webhook listens on ``127.0.0.1:${PORT:-3000}`` with the token ``${WEBHOOK_TOKEN:-local-dev-token}``; the Braze
simulator on ``127.0.0.1:${BRAZE_PORT:-4000}`` (``GET /_sim/requests`` lists what it received). Function logs go to
``.local-run/logs``. Ctrl-C stops everything, moto's server included.
"""

from __future__ import annotations

import json
import os
import signal
import threading

from local.stack import DEFAULT_TOKEN, RUN_LOGS, LocalStack
from rudder_braze.operations.bridge import local_description_path


def main() -> int:
    port = int(os.environ.get("PORT", "3000"))
    braze_port = int(os.environ.get("BRAZE_PORT", "4000"))
    token = os.environ.get("WEBHOOK_TOKEN", DEFAULT_TOKEN)
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    mode = os.environ.get("MODE", "direct")  # the template's DeliveryMode
    api = os.environ.get("API", "http")  # the template's ApiType
    stack = LocalStack(
        token=token,
        api_port=port,
        braze_port=braze_port,
        parameters={"DeliveryMode": mode, "ApiType": api},
        log_dir=RUN_LOGS,
    ).start()
    found_at = local_description_path(port)  # how `rudder-braze trace`, `replay` and `delete-users` find this stack
    found_at.parent.mkdir(parents=True, exist_ok=True)
    found_at.write_text(json.dumps(stack.description(), indent=2), encoding="utf-8")
    found_at.chmod(0o600)  # it holds the local token
    try:
        print(f"delivery mode   {mode} (MODE=direct|buffered)")
        print(f"API type        {api} (API=http|rest)")
        print(f"webhook         {stack.webhook_url}  (Authorization: Bearer {token})")
        print(f"HTTP API        {stack.api.url}/v1/{{batch,identify,track,page,screen,group,alias}}")
        print(f"Braze simulator {stack.simulator_server.url}  (GET /_sim/requests, /_sim/objects, /_sim/stats)")
        print(f"AWS (moto)      {stack.aws.endpoint}")
        print("function logs   .local-run/logs/ingest.log, .local-run/logs/retry.log")
        print()
        print("try:")
        print(
            f"  curl -s -X POST {stack.webhook_url} -H 'Content-Type: application/json' "
            f"-H 'Authorization: Bearer {token}' -d @events/rudderstack/track.json"
        )
        print(f"  curl -s {stack.simulator_server.url}/_sim/requests")
        print(f"  curl -s -X POST {stack.simulator_server.url}/_sim/faults -d '{{\"throttle_rate\": 0.5}}'")
        print("Ctrl-C to stop.", flush=True)
        stopping.wait()
    finally:
        found_at.unlink(missing_ok=True)
        stack.stop()
        print("stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
