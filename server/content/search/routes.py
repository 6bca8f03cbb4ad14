"""Search over published content."""

from __future__ import annotations

from aiohttp import web

from server.content.items.access import viewer_of
from server.content.search import queries
from server.content.search.schemas import SearchHit, SearchQuery
from server.http.pagination import Page
from server.http.registry import RouteTable
from server.keys import RUNTIME

routes = RouteTable("search", "Full-text search of published content, Chinese and English.")


@routes.get(
    "/api/v1/search",
    query=SearchQuery,
    response=Page[SearchHit],
    auth="optional",
    errors=frozenset({400, 422}),
)
async def search(request: web.Request, query: SearchQuery) -> Page[SearchHit]:
    """Published content matching every word of `q`, filtered and sorted; `can_read` per item"""
    runtime = request.app[RUNTIME]
    async with runtime.db.connection() as conn:
        return await queries.search(
            conn, viewer=viewer_of(request), query=query, now=runtime.clock.now()
        )
