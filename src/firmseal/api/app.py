"""The ASGI application: native endpoints, the AWS Signer API, request ids and signing workers."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from firmseal import __version__
from firmseal.api.config import ServerConfig, load_server_config
from firmseal.api.context import Services
from firmseal.api.errors import ApiError
from firmseal.api.limits import RateLimiter
from firmseal.api.model import load_model
from firmseal.api.native import native_router
from firmseal.api.operations import Dispatcher, Reply, error_reply
from firmseal.api.sigv4 import SignedRequest
from firmseal.config import load_settings
from firmseal.logsafe import escape_nonprintable
from firmseal.objects.store import open_object_store
from firmseal.service.recorder import JobRecorder
from firmseal.service.worker import SigningWorker
from firmseal.service.workspace import Workspace

log = logging.getLogger(__name__)
access_log = logging.getLogger("firmseal.api.access")

_LOG_ESCAPES = {"\\": "\\\\", " ": "\\x20"}


class Server:
    """Per-process state: the workspace, the dispatcher and the embedded signing workers."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._workspace: Workspace | None = None
        self._dispatcher: Dispatcher | None = None
        self._workers: list[SigningWorker] = []
        self._threads: list[threading.Thread] = []

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            raise RuntimeError("the server has not started")
        return self._workspace

    def start(self) -> None:
        settings = load_settings()
        self._workspace = Workspace.open(settings)
        objects = open_object_store(settings.objects_dir)
        recorder = JobRecorder(self._workspace.sessions)
        services = Services(self._workspace, objects, self.wake_workers, recorder)
        limiter = RateLimiter(self.config.rate_limit, self.config.rate_burst)
        self._dispatcher = Dispatcher(load_model(), services, limiter)
        for _ in range(self.config.signing_workers):
            worker = SigningWorker(self._workspace, objects, lease=self.config.lease)
            thread = threading.Thread(target=worker.run_forever, name=worker.worker_id)
            self._workers.append(worker)
            self._threads.append(thread)
            thread.start()
        log.info(
            "firmseal API started (region %s, account %s, %d signing workers)",
            settings.region,
            settings.account_id,
            len(self._workers),
        )

    def stop(self) -> None:
        """Let each worker finish its current job, then close the workspace."""
        for worker in self._workers:
            worker.stop()
        for thread in self._threads:
            thread.join()
        if self._workspace is not None:
            self._workspace.close()
        log.info("firmseal API stopped")

    def wake_workers(self) -> None:
        for worker in self._workers:
            worker.wake.set()

    def dispatch(self, request: SignedRequest) -> Reply:
        assert self._dispatcher is not None
        return self._dispatcher.handle(request)


async def _read_body(request: Request, limit: int) -> bytes:
    """Read the body; an oversized one is a ValidationException (400), because botocore's
    signer model lists no 413 error."""
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise ApiError(
            "ValidationException",
            f"invalid Content-Length header {declared[:40]!r}; expected a number of bytes",
        )
    if declared is not None and int(declared) > limit:
        raise ApiError("ValidationException", _over_limit(f"{int(declared)} bytes", limit))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            # A chunked body's size is unknown until its end, which is not read.
            raise ApiError(
                "ValidationException", _over_limit(f"at least {len(body)} bytes", limit)
            )
    return bytes(body)


def _over_limit(size: str, limit: int) -> str:
    return (
        f"request body is {size}, over the limit of {limit} bytes; send less, or raise "
        "FIRMSEAL_MAX_BODY_BYTES on the server"
    )


def _signed_request(request: Request, body: bytes) -> SignedRequest:
    scope = request.scope
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    return SignedRequest(
        method=request.method,
        host=request.headers.get("host", ""),
        raw_path=scope.get("raw_path", scope["path"].encode()).decode("latin-1"),
        raw_query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
    )


def _response(reply: Reply, request: Request) -> Response:
    headers = {"content-type": "application/json"}
    if reply.error_code is not None:
        headers["x-amzn-ErrorType"] = reply.error_code
    state = request.scope.setdefault("state", {})
    state["operation"] = reply.operation
    state["principal"] = reply.principal
    return Response(reply.body, status_code=reply.status, headers=headers)


class AwsEndpoint:
    """The ASGI app behind every AWS API request, whatever its method and path."""

    def __init__(self, server: Server) -> None:
        self._server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            body = await _read_body(request, self._server.config.max_body_bytes)
        except ApiError as exc:
            response = _response(error_reply(exc), request)
        else:
            signed = _signed_request(request, body)
            reply = await run_in_threadpool(self._server.dispatch, signed)
            response = _response(reply, request)
        await response(scope, receive, send)


def log_field(value: object) -> str:
    """Escape a request field for one access log line.

    Backslashes, spaces and every character that str.isprintable() rejects (control
    characters such as CR, LF and ESC, and lone surrogates) become backslash escapes, so a
    client cannot forge log lines, split fields or send terminal control sequences.
    """
    text = str(value)
    return "".join(_escape_character(c) for c in text)


def _escape_character(character: str) -> str:
    escaped = _LOG_ESCAPES.get(character)
    if escaped is not None:
        return escaped
    return escape_nonprintable(character)


class RequestIdMiddleware:
    """Gives every request an id (`x-amzn-RequestId`, which botocore reads) and logs it."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-amzn-requestid", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            state = scope.get("state", {})
            access_log.info(
                "%s %s %s %d %.1fms op=%s principal=%s",
                request_id,
                log_field(scope["method"]),
                log_field(scope["path"][:200]),
                status,
                (time.perf_counter() - started) * 1000,
                log_field(state.get("operation")),
                log_field(state.get("principal")),
            )


def create_app(config: ServerConfig | None = None) -> ASGIApp:
    """Build the application; uvicorn calls this in each HTTP worker process."""
    server = Server(config or load_server_config())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(server.start)
        try:
            yield
        finally:
            await run_in_threadpool(server.stop)

    app = FastAPI(
        title="firmseal native API",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.include_router(native_router(lambda: server.workspace))
    # Every method and path that no native endpoint takes goes to the AWS dispatcher, which
    # returns AWS errors for unknown ones. Starlette limits a function endpoint to the
    # methods it lists, but passes any method to an ASGI app. The route's pattern does not
    # match a path that contains a newline, so the router's fallback takes those.
    endpoint = AwsEndpoint(server)
    app.router.routes.append(Route("/{path:path}", endpoint, include_in_schema=False))
    app.router.default = endpoint
    return RequestIdMiddleware(app)
