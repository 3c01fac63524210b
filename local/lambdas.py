"""API Gateway and Lambda, locally: the handlers run in-process, called as their AWS event sources call them.

* :class:`LocalFunction` loads a handler from ``functions/`` and invokes it with a Lambda context whose remaining
  time counts down from the function's timeout in the template.
* :class:`ApiGateway` is an HTTP server that turns each request into the REST API proxy event (payload 1.0)
  API Gateway would send, for the routes the template declares: a body whose Content-Type matches the API's
  binary media types arrives base64-encoded, any other as text (bytes that are not UTF-8 mangled, as a REST API
  mangles them); a body over API Gateway's 10 MB payload limit is read and answered 413; requests over the stage's
  throttling (rate and burst) are answered 429.
* :class:`SqsEventSource` polls a queue and feeds the retry handler batches of SQS records, honouring
  ``batchItemFailures`` (failed records stay on the queue for their visibility timeout; the rest are deleted), so
  the queue's redrive policy moves a message to the DLQ as AWS would.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import fnmatch
import importlib.util
import io
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any, TextIO

from local.template import FunctionSpec

JSON = dict[str, Any]
API_PAYLOAD_LIMIT = 10 * 1024 * 1024  # API Gateway's own request size limit (10 MB)
_READ_CHUNK = 1024 * 1024


class TokenBucket:
    """API Gateway's stage throttling: ``rate`` requests per second on average, up to ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = float(burst), time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


class PayloadTooLarge(Exception):
    """The request body is over API Gateway's payload limit (it has been read and discarded)."""


def _is_binary(content_type: str | None, binary_media_types: list[str]) -> bool:
    """API Gateway's test: does the request's media type match one of the API's binary media types?"""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return any(fnmatch.fnmatchcase(media_type, pattern.lower()) for pattern in binary_media_types)


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float
    log_group_name: str = "local"
    log_stream_name: str = "local"
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class LambdaOutput(io.TextIOBase):
    """Stands in for ``sys.stdout``: what a function prints during an invocation (its JSON logs and EMF metrics)
    goes to its log file, as Lambda sends it to CloudWatch Logs; everything else goes to the console."""

    def __init__(self, console: TextIO) -> None:
        self.console = console
        self.routes = threading.local()

    def _sink(self) -> TextIO:
        # A log file closed by a stopped stack, or a console a test runner has closed: loggers created while the
        # stack ran may still write or flush at exit.
        for sink in (getattr(self.routes, "sink", None), self.console):
            if sink is not None and not sink.closed:
                return sink
        return sys.__stdout__ or self.console

    def write(self, text: str) -> int:
        return self._sink().write(text)

    def flush(self) -> None:
        self._sink().flush()

    @contextlib.contextmanager
    def to(self, sink: TextIO | None) -> Iterator[None]:
        previous = getattr(self.routes, "sink", None)
        self.routes.sink = sink
        try:
            yield
        finally:
            self.routes.sink = previous


class FunctionTimedOut(Exception):
    """The invocation ran past the function's timeout and was abandoned."""


class InvocationStopped(BaseException):
    """Raised inside an invocation past its deadline, as Lambda stops the sandbox: a ``BaseException``, so that the
    handler's ``except Exception`` clauses cannot carry on after it."""


def _stop(thread: threading.Thread) -> None:
    """Raise :class:`InvocationStopped` in ``thread`` at its next Python instruction. A call it is blocked in (a
    socket read, a lock) ends first, as a request already sent still reaches its server when Lambda stops."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(InvocationStopped))


# Concurrent executions a function without a reservation gets here. AWS's default account quota is 1,000 (new
# accounts may start lower); ten instances already load this machine's two cores as a real burst would.
LOCAL_UNRESERVED_CONCURRENCY = 4


class LocalFunction:
    """One Lambda function run in this process: up to its reserved concurrency (else
    :data:`LOCAL_UNRESERVED_CONCURRENCY`) invocations at once, each instance one invocation at a time, as Lambda
    runs them. An invocation beyond the limit waits for an instance (Lambda would throttle it: an SQS event source
    then polls again later). The instances share this process's modules, so Powertools' logger keys and metrics of
    concurrent invocations can mix in the local output."""

    def __init__(self, spec: FunctionSpec, output: LambdaOutput | None = None, log: TextIO | None = None) -> None:
        self.spec = spec
        self.output, self.log = output, log
        self.concurrency = spec.reserved_concurrency or LOCAL_UNRESERVED_CONCURRENCY
        self.instances = threading.BoundedSemaphore(self.concurrency)
        self._counting = threading.Lock()
        self._loading = threading.Lock()
        self.invocations = 0
        self.timeouts = 0
        self._module: ModuleType | None = None

    def _handler(self) -> Any:
        with self._loading:
            return self._load()

    def _load(self) -> Any:
        if self._module is None:
            module_name = f"local_lambda_{self.spec.handler_file.parent.name}"
            loader = importlib.util.spec_from_file_location(module_name, self.spec.handler_file)
            if loader is None or loader.loader is None:
                raise ImportError(f"cannot load {self.spec.handler_file}")
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
            self._module = module
        return getattr(self._module, self.spec.handler_name)

    def _free_after(self, worker: threading.Thread) -> None:
        worker.join()
        self.instances.release()

    def invoke(self, event: JSON) -> Any:
        """Run the handler; past the function's ``Timeout`` the invocation is stopped, as Lambda stops it:
        :class:`FunctionTimedOut` is raised (API Gateway answers 502, an event source retries the batch) and the
        handler's thread stops at its next instruction, leaving undone whatever it had not done yet."""
        self.instances.acquire()  # free again when the invocation's thread ends, not when its caller stops waiting
        with self._counting:
            self.invocations += 1
        context = LambdaContext(
            function_name=self.spec.name,
            memory_limit_in_mb=self.spec.memory,
            invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{self.spec.name}",
            aws_request_id=str(uuid.uuid4()),
            deadline=time.monotonic() + self.spec.timeout,
        )
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                with self.output.to(self.log) if self.output is not None else contextlib.nullcontext():
                    outcome["result"] = self._handler()(event, context)
            except InvocationStopped:
                pass  # past the deadline: nobody waits for this answer
            except BaseException as exc:  # handed to the caller, as Lambda reports a function error
                outcome["error"] = exc

        worker = threading.Thread(target=run, name=f"lambda-{self.spec.name}", daemon=True)
        worker.start()
        worker.join(timeout=max(0.0, context.deadline - time.monotonic()))
        if worker.is_alive():
            with self._counting:
                self.timeouts += 1
            _stop(worker)
            threading.Thread(target=self._free_after, args=(worker,), daemon=True).start()
            raise FunctionTimedOut(f"{self.spec.name} timed out after {self.spec.timeout} s")
        self.instances.release()
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("result")


def _route_pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")


class ApiGateway:
    """The REST API of the template on ``127.0.0.1:port``, without the stage prefix (as ``sam local start-api``)."""

    def __init__(
        self,
        function: LocalFunction,
        stage: str,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        binary_media_types: list[str] | None = None,
        throttle: TokenBucket | None = None,
        record: bool = False,
    ) -> None:
        self.function = function
        self.stage = stage
        self.binary_media_types = binary_media_types or []
        self.throttle = throttle  # the stage's throttling: over it, API Gateway answers 429 without invoking
        self.throttled = 0
        # With ``record``: every request as it arrived ``(path, headers, body)``, for tests of what real clients send.
        self.record = record
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.routes = [
            (
                event["Properties"]["Method"].upper(),
                event["Properties"]["Path"],
                _route_pattern(event["Properties"]["Path"]),
            )
            for event in function.spec.events.values()
            if event["Type"] == "Api"
        ]
        self.httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self.httpd.daemon_threads = True
        self.host = host
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="api-gateway", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.httpd.server_address[1]}"

    def start(self) -> ApiGateway:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def proxy_event(self, method: str, path: str, headers: dict[str, str], body: bytes, source_ip: str) -> JSON | None:
        bare = path.split("?", 1)[0]
        for route_method, resource, pattern in self.routes:
            match = pattern.match(bare)
            if match and route_method == method:
                content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
                if _is_binary(content_type, self.binary_media_types):
                    text, encoded = base64.b64encode(body).decode(), True
                else:
                    text, encoded = body.decode("utf-8", "replace"), False
                return {
                    "resource": resource,
                    "path": bare,
                    "httpMethod": method,
                    "headers": headers,
                    "multiValueHeaders": {k: [v] for k, v in headers.items()},
                    "queryStringParameters": None,
                    "multiValueQueryStringParameters": None,
                    "pathParameters": match.groupdict() or None,
                    "stageVariables": None,
                    "requestContext": {
                        "resourcePath": resource,
                        "httpMethod": method,
                        "path": f"/{self.stage}{bare}",
                        "stage": self.stage,
                        "requestId": str(uuid.uuid4()),
                        "requestTimeEpoch": int(time.time() * 1000),
                        "identity": {"sourceIp": source_ip},
                        "accountId": "123456789012",
                        "apiId": "local",
                    },
                    "body": text if body else None,
                    "isBase64Encoded": encoded,
                }
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms Nagle stalls

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _read(self, length: int) -> bytes:
                """Up to the payload limit; past it, read on and discard, so the sender gets its 413."""
                body = bytearray()
                while length > 0:
                    chunk = self.rfile.read(min(_READ_CHUNK, length))
                    if not chunk:
                        break
                    length -= len(chunk)
                    if len(body) <= API_PAYLOAD_LIMIT:
                        body += chunk
                return bytes(body)

            def _body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    body = bytearray()
                    while size := int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16):
                        chunk = self._read(size)
                        if len(body) <= API_PAYLOAD_LIMIT:
                            body += chunk
                        self.rfile.readline()  # the CRLF after each chunk
                    while self.rfile.readline().strip():  # trailers, up to the empty line
                        pass
                else:
                    body = bytearray(self._read(int(self.headers.get("Content-Length") or 0)))
                if len(body) > API_PAYLOAD_LIMIT:
                    raise PayloadTooLarge
                return bytes(body)

            def _any(self) -> None:
                try:
                    body = self._body()
                except PayloadTooLarge:
                    self._answer(413, b'{"message":"Request Too Long"}', {"Content-Type": "application/json"})
                    return
                if gateway.throttle is not None and not gateway.throttle.take():
                    gateway.throttled += 1
                    self._answer(429, b'{"message":"Too Many Requests"}', {"Content-Type": "application/json"})
                    return
                headers = dict(self.headers.items())
                if gateway.record:
                    gateway.received.append((self.path, headers, body))
                event = gateway.proxy_event(self.command, self.path, headers, body, self.client_address[0])
                if event is None:
                    self._answer(
                        403, b'{"message":"Missing Authentication Token"}', {"Content-Type": "application/json"}
                    )
                    return
                try:
                    result = gateway.function.invoke(event)
                except Exception:  # as API Gateway answers for a function that crashed
                    self._answer(502, b'{"message": "Internal server error"}', {"Content-Type": "application/json"})
                    return
                payload = result.get("body") or ""
                raw = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
                headers_out = {k: str(v) for k, v in (result.get("headers") or {}).items()}
                for key, values in (result.get("multiValueHeaders") or {}).items():
                    headers_out[key] = ", ".join(str(v) for v in values)
                self._answer(int(result.get("statusCode", 200)), raw, headers_out)

            def __getattr__(self, name: str) -> Any:
                # Every method (do_GET, do_QUERY, …): unknown routes and methods get API Gateway's 403, not 501.
                if name.startswith("do_"):
                    return self._any
                raise AttributeError(name)

        return Handler


class SqsEventSource:
    """The SQS event source mapping of a function: poll, invoke with a batch, delete what did not fail."""

    def __init__(
        self,
        function: LocalFunction,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        *,
        batch_size: int = 10,
        window_seconds: float = 0.0,
        concurrency: int = 1,
    ) -> None:
        self.function = function
        self.sqs = sqs
        self.queue_url, self.queue_arn = queue_url, queue_arn
        self.batch_size = batch_size
        self.window_seconds = window_seconds  # MaximumBatchingWindowInSeconds: gather up to batch_size this long
        self.stopping = threading.Event()
        # ScalingConfig.MaximumConcurrency: that many batches in flight at once, each gathered by its own poller.
        self.threads = [
            threading.Thread(target=self._run, name=f"sqs-event-source-{n}", daemon=True) for n in range(concurrency)
        ]
        self._counting = threading.Lock()
        self.batches = 0
        self.errors = 0

    def start(self) -> SqsEventSource:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            if thread.is_alive():
                thread.join(timeout=10)

    def _count(self, what: str) -> None:
        with self._counting:
            setattr(self, what, getattr(self, what) + 1)

    def _receive(self, wait_seconds: int) -> list[JSON]:
        """One batch: SQS returns at most 10 messages per call; with a batching window, keep receiving until the
        batch is full or the window since the first message has passed."""
        messages: list[JSON] = []
        window_ends: float | None = None
        while len(messages) < self.batch_size:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                WaitTimeSeconds=wait_seconds if not messages else 0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = answer.get("Messages", [])
            messages += received
            if not messages or self.window_seconds <= 0:
                break
            if window_ends is None:
                window_ends = time.monotonic() + self.window_seconds
            if time.monotonic() >= window_ends or self.stopping.is_set():
                break
            if not received:
                time.sleep(0.1)
        return messages

    def poll_once(self, wait_seconds: int = 1) -> int:
        messages = self._receive(wait_seconds)
        if not messages:
            return 0
        event = {"Records": [self._record(m) for m in messages]}
        self._count("batches")
        try:
            result = self.function.invoke(event) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", ())}
        except Exception:  # a crashed invocation: every message returns after its visibility timeout
            self._count("errors")
            return len(messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
                ],
            )
        return len(messages)

    def _record(self, message: JSON) -> JSON:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                k: {"stringValue": v.get("StringValue"), "dataType": v["DataType"]}
                for k, v in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": "us-east-1",
        }

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once()
            except Exception:  # moto restarting or stopping: try again shortly
                self._count("errors")
                time.sleep(0.2)

    def queue_depth(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
