"""The sandbox account's Help Center: customers' sessions, and the theme's addition to the request page.

Sessions. A Help Center theme's scripts call the API as the signed-in user with
the browser's session cookie, no credentials; writes also need that user's CSRF
token, the `authenticity_token` of `GET /api/v2/users/me`, sent as `X-CSRF-Token`
(developer.zendesk.com/documentation/help_center/help-center-api/secured-requests/).
The documentation gives no status for a write without it; Zendesk has been seen
to answer 403 `{"error": {"title": "Forbidden", "message": "Invalid authenticity
token"}}` (support.zendesk.com/hc/en-us/community/posts/4408860904858), which the
sandbox answers too. A request with Basic credentials is authenticated by them,
not by a session it may also carry (assumed).

Theme. Admins add the files `escalations package-theme` writes to their theme;
the sandbox's customer view shows the request page with them installed (or, until
some are, the same files built from this account's fields). The snippet is
rendered as Help Center's Handlebars renders the few expressions it may use:
`{{request.id}}`, `{{request.status}}`, `{{help_center.locale}}` (HTML-escaped),
`{{asset 'name'}}` (the asset's URL) and comments; anything else is refused, so
a snippet that needs more than the sandbox renders cannot pass unnoticed. The
second snippet takes the place of Copenhagen's list of the request's fields in
the sidebar (`{{#each custom_fields}}<dt>{{title}}</dt><dd>{{value}}</dd>{{/each}}`);
it is rendered with `each`, `is` (with `else`), `title` and `value`, the
helpers Help Center's templating documents, and nothing else.
"""

from __future__ import annotations

import hmac
import html
import re
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from escalations.admin.theme_package import ASSETS, DETAILS_SNIPPET, SNIPPET, SNIPPETS, theme_files, theme_settings
from escalations.config import ConfigError
from escalations.core.fields import ESCALATION_FIELDS
from escalations.core.text import DEFAULT_PHRASES
from escalations.sandbox.core import Record
from escalations.sandbox.errors import SandboxError, bad_request, not_found

if TYPE_CHECKING:
    from escalations.sandbox.zendesk import SandboxZendesk

SESSION_COOKIE = "_zendesk_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ASSET_PREFIX = "/hc/theming/assets/"

_COMMENT = re.compile(r"\{\{!--.*?--\}\}|\{\{![^}]*\}\}", re.DOTALL)
_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_ASSET = re.compile(r"asset\s+(['\"])([\w.-]+)\1")
_RENDERED = ("request.id", "request.status", "help_center.locale")


@dataclass(frozen=True)
class Session:
    """A signed-in Help Center user: the cookie's value, who, and their CSRF token."""

    key: str
    user_id: int
    csrf_token: str


class InvalidAuthenticityToken(SandboxError):
    """A write with a session but without its CSRF token, refused as Zendesk refuses it."""

    def __init__(self) -> None:
        super().__init__(403, "Forbidden", "Invalid authenticity token")

    @property
    def body(self) -> dict[str, Any]:
        return {"error": {"title": self.error, "message": self.description}}


class UnknownExpression(ValueError):
    """A Handlebars expression the sandbox does not render."""


def render_snippet(template: str, values: Mapping[str, object]) -> str:
    """The snippet with its expressions rendered as Help Center's Handlebars would; UnknownExpression otherwise."""

    def expression(match: re.Match[str]) -> str:
        inner = match.group(1).strip()
        asset = _ASSET.fullmatch(inner)
        if asset is not None:
            if asset.group(2) not in ASSETS:
                raise UnknownExpression(f"{{{{{inner}}}}}: the theme has no asset {asset.group(2)!r}")
            return html.escape(ASSET_PREFIX + asset.group(2))
        if inner in values:
            return html.escape(str(values[inner]))
        raise UnknownExpression(f"{{{{{inner}}}}} is not an expression the sandbox renders")

    return _EXPRESSION.sub(expression, _COMMENT.sub("", template))


_BLOCK_TOKEN = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_IS = re.compile(r"#is\s+(\w+)\s+'([^']*)'")


def render_details(template: str, fields: Sequence[Mapping[str, str]]) -> str:
    """The details snippet rendered for the request's fields ({title, value}); UnknownExpression otherwise."""
    tokens = _BLOCK_TOKEN.split(_COMMENT.sub("", template))  # text, expression, text, expression, …
    position = 0

    def block(scope: Mapping[str, str] | None, until: tuple[str, ...]) -> tuple[list[Any], str]:
        """Parse up to one of the `until` expressions; the parsed nodes and the expression that ended them."""
        nonlocal position
        nodes: list[Any] = []
        while position < len(tokens):
            text, position = tokens[position], position + 1
            if position % 2 == 1:
                nodes.append(("text", text))
                continue
            inner = text.strip()
            if inner in until:
                return nodes, inner
            if inner == "#each custom_fields":
                body, _ = block(None, ("/each",))
                nodes.append(("each", body))
            elif (match := _IS.fullmatch(inner)) is not None:
                yes, end = block(None, ("else", "/is"))
                no, _ = block(None, ("/is",)) if end == "else" else ([], "/is")
                nodes.append(("is", match.group(1), match.group(2), yes, no))
            elif inner in ("title", "value"):
                nodes.append(("value", inner))
            else:
                raise UnknownExpression(f"{{{{{inner}}}}} is not an expression the sandbox renders in the details")
        if until:
            raise UnknownExpression(f"{{{{{until[-1]}}}}} is missing")
        return nodes, ""

    def render(nodes: list[Any], field: Mapping[str, str] | None) -> str:
        out = []
        for node in nodes:
            if node[0] == "text":
                out.append(node[1])
            elif node[0] == "each":
                out.extend(render(node[1], item) for item in fields)
            elif node[0] == "is":
                if field is None:
                    raise UnknownExpression("{{#is}} outside {{#each custom_fields}}")
                out.append(render(node[3] if field.get(node[1]) == node[2] else node[4], field))
            elif field is None:
                raise UnknownExpression(f"{{{{{node[1]}}}}} outside {{{{#each custom_fields}}}}")
            else:
                out.append(html.escape(field.get(node[1], "")))
        return "".join(out)

    nodes, _ = block(None, ())
    return render(nodes, None)


class HelpCenter:
    """Sessions of the sandbox's Help Center and the theme files installed in it."""

    def __init__(self, zendesk: SandboxZendesk) -> None:
        self._zendesk = zendesk
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._theme: dict[str, str] | None = None

    # -- sessions ----------------------------------------------------------------------

    def sign_in(self, user_id: int) -> Session:
        """A new session for an active user of the account; 404 for an unknown one, 400 for an inactive one."""
        user = self._zendesk.user(user_id)
        if not user["active"] or user["suspended"]:
            raise bad_request(f"user {user_id} cannot sign in: inactive or suspended")
        session = Session(secrets.token_urlsafe(24), user_id, secrets.token_urlsafe(32))
        with self._lock:
            self._sessions[session.key] = session
        return session

    def sign_out(self, key: str | None) -> None:
        with self._lock:
            self._sessions.pop(key or "", None)

    def session(self, key: str | None) -> Session | None:
        """The session a cookie's value names, if any."""
        if not key:
            return None
        with self._lock:
            return self._sessions.get(key)

    def authenticate(self, session: Session, method: str, csrf_token: str | None) -> Record | SandboxError:
        """The session's user, or the refusal: 401 once they cannot sign in, 403 for a write without the token."""
        user = self._zendesk.user(session.user_id)
        if not user["active"] or user["suspended"]:
            return SandboxError(401, "Couldn't authenticate you", "")
        if method.upper() not in SAFE_METHODS and not self.token_matches(session, csrf_token):
            return InvalidAuthenticityToken()
        return user

    @staticmethod
    def token_matches(session: Session, csrf_token: str | None) -> bool:
        return hmac.compare_digest((csrf_token or "").encode(), session.csrf_token.encode())

    # -- the theme ---------------------------------------------------------------------

    def install_theme(self, files: Mapping[str, str]) -> None:
        """Install the files `escalations package-theme` wrote (by their paths); 400 when one is missing or
        the snippet uses an expression the sandbox does not render."""
        wanted = (*SNIPPETS, *(f"assets/{name}" for name in ASSETS))
        missing = [path for path in wanted if not isinstance(files.get(path), str)]
        if missing:
            raise bad_request(f"the theme lacks {', '.join(missing)}")
        try:
            render_snippet(files[SNIPPET], dict.fromkeys(_RENDERED, ""))
            render_details(files[DETAILS_SNIPPET], [{"title": "Priority", "value": "High"}])
        except UnknownExpression as error:
            raise bad_request(str(error)) from None
        with self._lock:
            self._theme = {path: files[path] for path in wanted}

    def remove_theme(self) -> None:
        """Back to the files built from the account's own fields."""
        with self._lock:
            self._theme = None

    def theme(self) -> dict[str, str] | None:
        """The installed files, else the package built from the account's fields (None before they exist)."""
        with self._lock:
            if self._theme is not None:
                return dict(self._theme)
        ids_by_title = {field["title"]: field["id"] for field in self._zendesk.ticket_fields()}
        field_ids = {field.key: ids_by_title[field.title] for field in ESCALATION_FIELDS if field.title in ids_by_title}
        try:
            settings = theme_settings(field_ids, DEFAULT_PHRASES, requester_only=False)
        except ConfigError:  # setup has not created the fields yet
            return None
        return theme_files(settings)

    def asset(self, name: str) -> str:
        """One of the theme's assets; 404 when there is none of that name."""
        theme = self.theme()
        if theme is None or f"assets/{name}" not in theme:
            raise not_found()
        return theme[f"assets/{name}"]

    def request_page_addition(self, request: Record, locale: str) -> str:
        """The snippet rendered for one request and Help Center locale ('' without a theme)."""
        theme = self.theme()
        if theme is None:
            return ""
        values = {"request.id": request["id"], "request.status": request["status"], "help_center.locale": locale}
        return render_snippet(theme[SNIPPET], values)

    def request_details(self, fields: Sequence[Mapping[str, str]]) -> str | None:
        """The request's fields as the installed details snippet lists them; None without a theme."""
        theme = self.theme()
        return render_details(theme[DETAILS_SNIPPET], fields) if theme is not None else None
