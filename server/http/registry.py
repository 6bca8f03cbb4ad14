"""The route registry: pydantic schemas validate every request and make the OpenAPI document.

A domain declares its routes on a `RouteTable`:

    routes = RouteTable("system")

    @routes.get("/api/v1/meta", response=MetaOut, summary="Server facts", auth=False)
    async def get_meta(request: web.Request) -> MetaOut: ...

Handlers receive the validated `path`, `query` and `body` models as keyword arguments and return
a value of the declared response type (or any aiohttp response for streams and files).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from server.http.errors import InvalidJson, Unauthorized, UnsupportedMediaType, ValidationFailed
from server.http.fields import QUERY_CONTEXT
from server.http.guards import require_role
from server.http.validation import validation_error
from server.keys import PRINCIPAL, USER_ID

Handler = Callable[..., Awaitable[Any]]


class Authenticator(Protocol):
    async def __call__(self, request: web.Request) -> int:
        """Check the credentials of `request`; return the user id or raise Unauthorized."""
        ...


class BodyHook(Protocol):
    async def __call__(
        self, request: web.Request, route: Route, run: Callable[[], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse: ...


@dataclass(frozen=True, slots=True)
class Answer:
    """A documented answer in the caller's own format (gateway callbacks), not the envelope."""

    description: str
    content: dict[str, Any]  # media type -> the annotation its body matches


@dataclass(frozen=True, slots=True)
class Replay:
    """How an idempotent route answers a retry whose first answer was lost: its effect named
    the `kind` of entity it produced (`idempotency.produced`), and `rebuild(request, id)`
    returns that entity as the route's response (rendered with the route's status)."""

    kind: str
    rebuild: Callable[[web.Request, int], Awaitable[Any]]


@dataclass(slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    response: Any = None
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    params: type[BaseModel] | None = None
    # True: a bearer token is required; "optional": used when sent (anonymous otherwise).
    auth: bool | str = True
    roles: frozenset[str] = frozenset()  # any one of these is required (after authentication)
    idempotent: bool = False
    # The handler answers a repeat from its own references (the first outcome, no second
    # effect): a retry whose first answer was lost may run it again.
    replays: bool = False
    replay: Replay | None = None
    errors: frozenset[int] = frozenset()
    description: str | None = None
    # Statuses answered in another format than ours; these replace the generated entries.
    answers: dict[int, Answer] = field(default_factory=dict)
    adapter: TypeAdapter[Any] | None = field(default=None, repr=False)

    @property
    def operation_id(self) -> str:
        return f"{self.tag}.{self.handler.__name__}"

    def statuses(self) -> list[int]:
        """Every error status this route can answer with, for the OpenAPI document."""
        codes = {429, 500, 503, *self.errors}
        if self.body or self.query or self.params:
            codes |= {400, 422}
        if self.body:
            codes |= {413, 415}
        if self.auth:
            codes |= {401, 403}
        if self.roles:
            codes.add(403)
        if self.params:
            codes.add(404)
        if self.idempotent:
            codes.add(409)
        return sorted(codes)


class RouteTable:
    """The routes of one domain (an OpenAPI tag)."""

    def __init__(self, tag: str, description: str = "") -> None:
        self.tag = tag
        self.description = description
        self.routes: list[Route] = []

    def route(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            summary = options.pop("summary", None) or (handler.__doc__ or "").strip()
            options["roles"] = frozenset(options.get("roles", ()))
            if options["roles"] and options.get("auth", True) is not True:
                raise ValueError(f"{path}: a route with roles must be authenticated")
            if options.get("auth", True) not in (True, False, "optional"):
                raise ValueError(f"{path}: auth is True, False or 'optional'")
            route = Route(method, path, handler, summary=summary, tag=self.tag, **options)
            if route.response is not None:
                route.adapter = TypeAdapter(route.response)
            self.routes.append(route)
            return handler

        return register

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **options)


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


async def read_json_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    """Parse and validate a JSON body: 415 for other types, 400 for bad JSON, 422 for bad data."""
    if not _is_json(request.content_type):
        raise UnsupportedMediaType()
    raw = await request.read()
    if not raw:
        raise ValidationFailed(fields={"body": "A JSON body is required."})
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson() from exc
    try:
        # Strict as JSON is: an integer is a JSON integer (not `false`, `1.0` or "1"), a boolean
        # `true`/`false`; strings still give times, dates, UUIDs and enum values.
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise validation_error(exc, "body") from exc


def _query_data(request: web.Request, model: type[BaseModel]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in request.query:
        info = model.model_fields.get(name)
        annotation = str(info.annotation) if info is not None else ""
        values = request.query.getall(name)
        data[name] = values if annotation.startswith(("list", "typing.List")) else values[-1]
    return data


def _validate(model: type[BaseModel], data: dict[str, Any], where: str) -> BaseModel:
    try:
        # Query and path values are text: strict fields accept their textual spellings there.
        return model.model_validate(data, context=QUERY_CONTEXT)
    except ValidationError as exc:
        raise validation_error(exc, where) from exc


class RouteRegistry:
    """All route tables of the application; mounts them and describes them."""

    def __init__(self) -> None:
        self.tables: list[RouteTable] = []
        self.authenticate: Authenticator | None = None
        self.after_auth: list[Callable[[web.Request, Route], Awaitable[None]]] = []
        self.around_handler: BodyHook | None = None

    def include(self, table: RouteTable) -> None:
        self.tables.append(table)

    @property
    def routes(self) -> list[Route]:
        return [route for table in self.tables for route in table.routes]

    def mount(self, app: web.Application) -> None:
        for route in self.routes:
            app.router.add_route(route.method, route.path, self._endpoint(route), name=None)

    def _endpoint(self, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        registry = self

        async def endpoint(request: web.Request) -> web.StreamResponse:
            if route.auth == "optional" and "Authorization" not in request.headers:
                pass
            elif route.auth:
                if registry.authenticate is None:
                    raise Unauthorized()
                request[USER_ID] = await registry.authenticate(request)
                if route.roles:
                    require_role(request.get(PRINCIPAL), *route.roles)
                for hook in registry.after_auth:
                    await hook(request, route)
            kwargs: dict[str, Any] = {}
            if route.params is not None:
                kwargs["params"] = _validate(route.params, dict(request.match_info), "path")
            if route.query is not None:
                query = _query_data(request, route.query)
                kwargs["query"] = _validate(route.query, query, "query")
            if route.body is not None:
                kwargs["body"] = await read_json_body(request, route.body)

            if route.idempotent and registry.around_handler is not None:

                async def run() -> web.StreamResponse:
                    return render(route, await route.handler(request, **kwargs))

                return await registry.around_handler(request, route, run)
            return render(route, await route.handler(request, **kwargs))

        endpoint.__name__ = route.handler.__name__
        return endpoint


def render(route: Route, result: Any) -> web.StreamResponse:
    if isinstance(result, web.StreamResponse):
        return result
    if route.status == 204:
        return web.Response(status=204)
    body = route.adapter.dump_json(result) if route.adapter else orjson.dumps(result)
    return web.Response(body=body, status=route.status, content_type="application/json")
