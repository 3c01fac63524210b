"""Lambda, locally: :class:`LocalFunction` loads a handler from ``functions/`` and invokes it in-process with a
Lambda context whose remaining time counts down from the function's timeout in the template; past it the
invocation is stopped, and instances are limited to the function's concurrency."""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import io
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TextIO

from local.template import FunctionSpec
from rudder_braze.adapters.aws import AwsClients
from rudder_braze.app.container import Container, provided
from rudder_braze.app.settings import AppSettings

JSON = dict[str, Any]


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


# The process's one output. Powertools' loggers keep the stream they were created with (a service's logger is set
# up once per process), so every stack a process starts routes through this object, or the functions of the second
# stack would log to the first one's console instead of their log files.
PROCESS_OUTPUT = LambdaOutput(sys.stdout)


def route_output() -> LambdaOutput:
    """Make :data:`PROCESS_OUTPUT` the standard output, what was the standard output until now its console."""
    if sys.stdout is not PROCESS_OUTPUT:
        PROCESS_OUTPUT.console = sys.stdout
        sys.stdout = PROCESS_OUTPUT
    return PROCESS_OUTPUT


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
    concurrent invocations can mix in the local output.

    The handler runs with a container built from the function's own environment (the template's, with
    ``overrides``) and AWS clients reaching ``aws``'s endpoints (:func:`rudder_braze.app.container.provided`), so two
    functions with different settings run side by side and the process's environment is left alone."""

    def __init__(
        self,
        spec: FunctionSpec,
        aws: AwsClients,
        overrides: dict[str, str] | None = None,
        output: LambdaOutput | None = None,
        log: TextIO | None = None,
    ) -> None:
        self.spec = spec
        self.aws = aws
        self.environment = {**spec.environment, **(overrides or {})}
        self._container: Container | None = None
        self.output, self.log = output, log
        self.concurrency = spec.reserved_concurrency or LOCAL_UNRESERVED_CONCURRENCY
        self.instances = threading.BoundedSemaphore(self.concurrency)
        self._counting = threading.Lock()
        self._loading = threading.Lock()
        self.invocations = 0
        self.timeouts = 0
        self._module: ModuleType | None = None

    @property
    def container(self) -> Container:
        """The execution environment's objects, built at its first invocation (a bad setting fails that one, as on
        Lambda)."""
        with self._loading:
            if self._container is None:
                self._container = Container(AppSettings.from_environ(self.environment), self.aws)
            return self._container

    def cold_start(self, overrides: dict[str, str] | None = None) -> None:
        """The next invocation starts a new execution environment (settings and secrets read again), with
        ``overrides`` added to the function's environment, as a configuration change or a deploy does."""
        with self._loading:
            self.environment.update(overrides or {})
            self._container = None

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
                with (
                    self.output.to(self.log) if self.output is not None else contextlib.nullcontext(),
                    provided(self.container),
                ):
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
