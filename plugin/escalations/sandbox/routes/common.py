"""What the API routes share: request bodies, pagination, and Zendesk's ways of answering."""

from __future__ import annotations

import base64
import binascii
from typing import Any, cast
from urllib.parse import urlencode

from flask import Response, g, jsonify, request

from escalations.sandbox.errors import bad_request

API_PREFIX = "/api/v2"
ORIGINAL_PATH = "sandbox.original_path"
MAX_PAGE_SIZE = 100


def original_path() -> str:
    """The path as the client sent it, `.json` suffix included."""
    return cast(str, request.environ.get(ORIGINAL_PATH, request.path))


def current_user() -> dict[str, Any]:
    """The user the request authenticated as."""
    return cast(dict[str, Any], g.user)


def object_body(key: str) -> dict[str, Any]:
    """The `{key: {...}}` object Zendesk expects as a request body."""
    body = request.get_json(force=True, silent=True)
    wrapped = body.get(key) if isinstance(body, dict) else None
    if not isinstance(wrapped, dict):
        raise bad_request(f"expected a JSON body like {{{key!r}: {{...}}}}")
    return wrapped


def includes() -> set[str]:
    """The sideloads asked for with `include=a,b`."""
    return {part.strip() for part in request.args.get("include", "").split(",")}


def int_arg(name: str, default: int) -> int:
    """A whole-number query parameter >= 1; 400 for anything else."""
    value = request.args.get(name)
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise bad_request(f"{name}: expected a whole number >= 1")
    return int(value)


def created(body: dict[str, Any]) -> Response:
    answer = jsonify(body)
    answer.status_code = 201
    return answer


def no_content() -> Response:
    return Response(status=204)


def with_warning(answer: Response, ignored_keys: list[str]) -> Response:
    """Zendesk drops unknown keys and says so in a header."""
    if ignored_keys:
        quoted = ", ".join(f'"{key}"' for key in ignored_keys)
        answer.headers["x-zendesk-api-warn"] = f"Removed restricted keys [{quoted}] from parameters"
    return answer


def page_url(overrides: dict[str, str]) -> str:
    """This request's URL with some query parameters replaced (page cursors dropped)."""
    params = {k: v for k, v in request.args.items() if k not in ("page[after]", "page[before]", "page")}
    params.update(overrides)
    return f"{request.host_url.rstrip('/')}{original_path()}?{urlencode(params)}"


def listing(key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A list answer: cursor-paginated when `page[...]` is asked for, offset-paginated otherwise."""
    if any(name.startswith("page[") for name in request.args):
        return cursor_listing(key, items)
    per_page = min(int_arg("per_page", MAX_PAGE_SIZE), MAX_PAGE_SIZE)
    page = int_arg("page", 1)
    start = (page - 1) * per_page
    has_next = start + per_page < len(items)
    return {
        key: items[start : start + per_page],
        "next_page": page_url({"page": str(page + 1)}) if has_next else None,
        "previous_page": page_url({"page": str(page - 1)}) if page > 1 else None,
        "count": len(items),
    }


def cursor_listing(key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Cursor pagination: `page[size]` (max 100), `page[after]`/`page[before]`, meta and links."""
    size = min(int_arg("page[size]", MAX_PAGE_SIZE), MAX_PAGE_SIZE)
    ids = [str(item["id"]) for item in items]
    after, before = request.args.get("page[after]"), request.args.get("page[before]")
    if after:
        start = cursor_position(after, ids) + 1
        end = start + size
    elif before:
        end = cursor_position(before, ids)
        start = max(0, end - size)
    else:
        start, end = 0, size
    page = items[start:end]
    more_after, more_before = end < len(items), start > 0
    after_cursor = cursor(page[-1]["id"]) if page else None
    before_cursor = cursor(page[0]["id"]) if page else None
    return {
        key: page,
        "meta": {
            "has_more": more_before if before else more_after,
            "after_cursor": after_cursor,
            "before_cursor": before_cursor,
        },
        "links": {
            "next": page_url({"page[after]": after_cursor}) if more_after and after_cursor else None,
            "prev": page_url({"page[before]": before_cursor}) if more_before and before_cursor else None,
        },
    }


def cursor(item_id: object) -> str:
    """An opaque cursor naming an item."""
    return base64.urlsafe_b64encode(str(item_id).encode()).decode().rstrip("=")


def cursor_position(given: str, ids: list[str]) -> int:
    """Where the item a cursor names is in `ids`; 400 for a cursor that names none."""
    try:
        item_id = base64.urlsafe_b64decode(given + "=" * (-len(given) % 4)).decode()
        return ids.index(item_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise bad_request("page cursor is not valid for this list") from error
