"""ig's one HTTP entry point, which both runtimes' adapters call: the gallery's paths go to
``ig.gallery``, the rest to the API (``ig.api``). The gallery's pages are imported on its first
request, so API requests on a cold Worker never load them."""

from __future__ import annotations

from ig.api import routes
from ig.api.http import ApiRequest, ApiResponse, dispatch
from ig.deps import Deps
from ig.gallery import paths


async def handle(deps: Deps, request: ApiRequest) -> ApiResponse:
    if paths.serves(request.path):
        from ig.gallery import routes as gallery

        return await gallery.handle(deps, request)
    return await dispatch(routes.ROUTER, deps, request)


def streams_body(method: str, path: str) -> bool:
    """The route reads its body as a stream (uploads, also through the gallery's ``/ui``)."""
    return routes.ROUTER.streams_body(method, paths.api_path(path))


def body_limit(path: str, deps: Deps) -> int:
    return routes.body_limit(paths.api_path(path), deps)
