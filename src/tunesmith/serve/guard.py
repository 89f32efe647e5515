"""What every request passes before a route sees it: host, origin, body size; and the headers every answer gets.

One ASGI middleware, outermost, so each check answers in OpenAI's error shape
before anything is parsed or allocated:

- **Host**: only loopback names, the bound address and `serve.allowed_hosts`
  (as Starlette's `TrustedHostMiddleware`, with an OpenAI-shaped 400): a page on
  another site that rebinds its DNS name to 127.0.0.1 reaches nothing.
- **Origin**: a state-changing request (POST, PUT, PATCH, DELETE) that a browser
  sent from another origin is refused (403) unless `serve.cors_origins` lists it
  — with or without API keys, so a page the user visits cannot upload, start
  jobs or promote a release through the user's local server.
- **Body size**: a JSON body over `serve.max_request_kb` and an upload over
  `serve.max_upload_mb` get 413 as the bytes arrive (a declared Content-Length
  at once), chunked or not; JSON bodies are read here, within the bound, and
  handed on; uploads are counted as the route streams them to disk
  (`BodyTooLarge` is raised into the route's reading).
- **Keys**: with API keys, a request to a private path without a valid one gets 401
  (`serve.app.key_check`, on a thread: the stored keys are a database read), and
  503 while the job store's database is out of reach. A pure ASGI middleware, not Starlette's
  `BaseHTTPMiddleware`, so a route still hears its client disconnect.
- **Headers**: a Content-Security-Policy allowing only this server's own
  scripts, styles and connections, `X-Frame-Options: DENY`,
  `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from tunesmith.serve.openai_schema import error_body

UPLOAD_PATHS = ("/v1/files", "/ui/api/datasets/upload")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
# FastAPI's interactive docs load their script from a CDN and run an inline one: no CSP there
NO_CSP = ("/docs", "/redoc")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class BodyTooLarge(Exception):
    """An upload went past its limit while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit} bytes")
        self.limit = limit


def allowed_hosts(bind: str | None, extra: Iterable[str]) -> set[str]:
    hosts = {*LOOPBACK_NAMES, *(h.lower() for h in extra)}
    if bind and bind not in ("0.0.0.0", "::"):
        hosts.add(bind.lower())
    return hosts


class Guard:
    def __init__(
        self,
        app: Any,
        *,
        hosts: set[str] | None,
        cors_origins: Iterable[str],
        max_json_bytes: int,
        max_upload_bytes: int,
        authorized: Callable[[str, str, str], bool] | None = None,
    ) -> None:
        self.app = app
        self.hosts = hosts  # None: any host (a server bound to all interfaces behind keys, without allowed_hosts)
        self.cors_origins = {o.rstrip("/").lower() for o in cors_origins}
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes
        self.authorized = authorized
        self._limiter: Any = None  # key checks' own threads (made on the event loop, at the first request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        send = _with_security_headers(send, csp=not scope["path"].startswith(NO_CSP))
        host = _host_name(headers.get("host", ""))
        if self.hosts is not None and host not in self.hosts:
            return await _refuse(send, 400, f"Invalid host header '{host[:100]}'.", "invalid_host")
        method = scope["method"]
        if self.authorized is not None:
            import anyio

            from tunesmith.core.errors import TunesmithError

            try:
                # the stored keys are a database read (PostgreSQL for a team): off the event loop, so a slow
                # database delays this request, not every other one; on threads of its own, so routes holding
                # the shared ones cannot hold up a key check
                if self._limiter is None:
                    self._limiter = anyio.CapacityLimiter(8)
                ok = await anyio.to_thread.run_sync(
                    self.authorized, scope["path"], method, headers.get("authorization", ""), limiter=self._limiter
                )
            except TunesmithError as exc:  # the job store out of reach: the server's trouble, to retry
                return await _refuse(send, int(getattr(exc, "http_status", 400)), exc.render(), type(exc).__name__)
            if not ok:
                return await _refuse(send, 401, "Incorrect API key provided.", "invalid_api_key")
        origin = headers.get("origin")
        if method in STATE_CHANGING and origin is not None and not self._same_or_allowed(origin, headers, scope):
            return await _refuse(
                send,
                403,
                f"Cross-origin {method} from '{origin[:100]}' refused; add the origin to serve.cors_origins to allow it.",
                "cross_origin_refused",
            )
        if method not in STATE_CHANGING:
            return await self.app(scope, receive, send)
        upload = scope["path"].rstrip("/") in UPLOAD_PATHS
        limit = self.max_upload_bytes + 64 * 1024 if upload else self.max_json_bytes  # multipart framing
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return await _too_large(send, self.max_upload_bytes if upload else limit, upload)
        if upload:
            return await self.app(scope, _counting(receive, limit), send)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                return await _too_large(send, limit, upload)
            if not message.get("more_body"):
                break
        return await self.app(scope, _replay(bytes(body), receive), send)

    def _same_or_allowed(self, origin: str, headers: dict[str, str], scope: Scope) -> bool:
        origin = origin.rstrip("/").lower()
        if origin in self.cors_origins:
            return True
        scheme = scope.get("scheme", "http")
        return origin == f"{scheme}://{headers.get('host', '').lower()}"


def _host_name(header: str) -> str:
    header = header.strip().lower()
    if header.startswith("["):  # [::1]:8000
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _with_security_headers(send: Send, *, csp: bool) -> Send:
    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            extra = SECURITY_HEADERS + ([(b"content-security-policy", CSP.encode())] if csp else [])
            names = {k.lower() for k, _ in message.get("headers", [])}
            message["headers"] = list(message.get("headers", [])) + [(k, v) for k, v in extra if k not in names]
        await send(message)

    return wrapped


def _counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def wrapped() -> dict[str, Any]:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise BodyTooLarge(limit)
        return message

    return wrapped


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def wrapped() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the disconnect a long request listens for

    return wrapped


async def _too_large(send: Send, limit: int, upload: bool) -> None:
    what = "File too large" if upload else "Request body too large"
    setting = "serve.max_upload_mb" if upload else "serve.max_request_kb"
    code = "file_too_large" if upload else "request_too_large"
    await _refuse(send, 413, f"{what}: the limit is {limit} bytes ({setting}).", code)


async def _refuse(send: Send, status: int, message: str, code: str) -> None:
    body = error_body(message, type_="server_error" if status >= 500 else "invalid_request_error", code=code)
    body["error"]["text"] = message  # the workbench pages show `text`
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
