"""The sandbox's Help Center: the customer view at `/hc/`, its theme's assets, and its `/__sandbox__/hc/` controls.

Pages follow Help Center's addresses (`/hc/<locale>/requests/<id>`, the locale
being `help_center.locale`) and its standard theme's request page; they read
the account through the Requests API's rules, as the signed-in user. Without
a session they send the visitor to the sign-in page, a sandbox control that
picks a customer instead of asking for a password.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Flask, redirect, render_template, request
from markupsafe import Markup
from werkzeug.wrappers import Response

from escalations.sandbox.errors import SandboxError, bad_request
from escalations.sandbox.help_center import SESSION_COOKIE, HelpCenter, Session
from escalations.sandbox.routes.common import no_content

if TYPE_CHECKING:
    from escalations.sandbox.zendesk import SandboxZendesk

LANGUAGES = (
    ("en-us", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("pt-br", "Português (Brasil)"),
    ("ja", "日本語"),
)
STATUS_NAMES = {
    "new": "Open",
    "open": "Open",
    "pending": "Awaiting your reply",
    "hold": "Open",
    "solved": "Solved",
    "closed": "Closed",
}
_LOCALE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})?")
_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css"}
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Visit:
    """A signed-in customer on a Help Center page: the page's locale, their session, the user."""

    locale: str
    session: Session
    user: dict[str, Any]


def add_help_center_routes(app: Flask, zendesk: SandboxZendesk, help_center: HelpCenter) -> None:
    def signed_in() -> tuple[Session, dict[str, Any]] | None:
        session = help_center.session(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        user = zendesk.user(session.user_id)
        return (session, user) if user["active"] and not user["suspended"] else None

    def page(template: str, status: int = 200, **context: Any) -> Response:
        locale = context.setdefault("locale", "en-us")
        context.setdefault("user", None)
        context.setdefault("languages", ())
        body = render_template(
            f"help_center/{template}",
            status_name=lambda status_key: STATUS_NAMES.get(status_key, status_key),
            language_path=lambda code: request.path.replace(f"/hc/{locale}/", f"/hc/{code}/", 1),
            **context,
        )
        answer = Response(body, status, mimetype="text/html")
        answer.headers["Content-Security-Policy"] = PAGE_POLICY
        answer.headers["X-Content-Type-Options"] = "nosniff"
        answer.headers["Referrer-Policy"] = "no-referrer"
        answer.headers["Cache-Control"] = "no-store"
        return answer

    def checked_locale(locale: str) -> str:
        if not _LOCALE.fullmatch(locale):
            raise bad_request(f"{locale!r} is not a Help Center locale such as en-us or de")
        return locale

    def customer_page(*, form: bool = False) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
        """A page at `/hc/<locale>/...` for the signed-in customer, given to the view as a :class:`Visit`.

        The locale is checked, a visitor without a session goes to the sign-in page and, for a
        form (`form=True`), a wrong `authenticity_token` is refused with a 403 page.
        """

        def wrap(view: Callable[..., Response]) -> Callable[..., Response]:
            @functools.wraps(view)
            def handle(locale: str, **arguments: Any) -> Response:
                locale = checked_locale(locale)
                current = signed_in()
                if current is None:
                    return redirect("/hc/", 303)
                session, user = current
                if form and not help_center.token_matches(session, request.form.get("authenticity_token")):
                    return page(
                        "message.html",
                        403,
                        locale=locale,
                        user=user,
                        heading="Forbidden",
                        message="Invalid authenticity token",
                    )
                return view(Visit(locale, session, user), **arguments)

            return handle

        return wrap

    def not_found_page(locale: str, user: dict[str, Any] | None) -> Response:
        return page(
            "message.html",
            404,
            locale=locale,
            user=user,
            heading="Oops! We can’t find that page.",
            message="The request does not exist, or you are not its requester nor copied on it.",
        )

    @app.get("/hc")
    @app.get("/hc/")
    def help_center_home() -> Response:
        current = signed_in()
        if current is not None:
            return redirect(f"/hc/{current[1]['locale'].lower()}/requests", 303)
        people = [user for user in zendesk.users(roles=["end-user"]) if user["active"] and not user["suspended"]]
        return page("sign_in.html", people=people, return_to=_help_center_path(request.args.get("return_to")))

    @app.get("/hc/requests/<int:request_id>")
    def request_without_locale(request_id: int) -> Response:
        """A request's address without a locale, as the service's replies link it: the customer's own locale
        once signed in (assumed of Help Center, which sends such a link to a locale's page)."""
        current = signed_in()
        if current is None:
            return redirect(f"/hc/?return_to=/hc/requests/{request_id}", 303)
        return redirect(f"/hc/{current[1]['locale'].lower()}/requests/{request_id}", 303)

    @app.get("/hc/<locale>/requests")
    @customer_page()
    def my_requests(visit: Visit) -> Response:
        requests = zendesk.requests_of(visit.user["id"])
        return page("requests.html", locale=visit.locale, user=visit.user, languages=LANGUAGES, requests=requests)

    @app.get("/hc/<locale>/requests/<int:request_id>")
    @customer_page()
    def request_page(visit: Visit, request_id: int) -> Response:
        locale, session, user = visit.locale, visit.session, visit.user
        try:
            shown = zendesk.request(request_id, user["id"])
            comments = zendesk.request_comments(request_id, user["id"])
        except SandboxError as error:
            if error.status != 404:
                raise
            return not_found_page(locale, user)
        names = {person["id"]: person["name"] for person in zendesk.users()}
        return page(
            "request.html",
            locale=locale,
            user=user,
            languages=LANGUAGES,
            request=shown,
            requester=names.get(shown["requester_id"], ""),
            created_at=_when(shown["created_at"]),
            updated_at=_when(shown["updated_at"]),
            copied=[names.get(person_id, "") for person_id in shown["email_cc_ids"]],
            comments=[
                {"author": names.get(c["author_id"], ""), "body": c["body"], "created_at": _when(c["created_at"])}
                for c in comments
            ],
            custom_fields=_shown_fields(zendesk, shown),
            request_details=_details(help_center, _shown_fields(zendesk, shown)),
            authenticity_token=session.csrf_token,
            escalation_addition=Markup(help_center.request_page_addition(shown, locale)),  # rendered and escaped
        )

    @app.post("/hc/<locale>/requests/<int:request_id>")
    @customer_page(form=True)
    def add_comment_without_script(visit: Visit, request_id: int) -> Response:
        """The request page's own comment form: works without JavaScript, like Help Center's."""
        locale, user = visit.locale, visit.user
        try:
            zendesk.update_request(request_id, user["id"], {"comment": {"body": request.form.get("body", "")}})
        except SandboxError as error:
            if error.status == 404:
                return not_found_page(locale, user)
            return page(
                "message.html", error.status, locale=locale, user=user, heading="Not saved", message=error.description
            )
        return redirect(f"/hc/{locale}/requests/{request_id}", 303)

    @app.get("/hc/<locale>/requests/new")
    @customer_page()
    def new_request_page(visit: Visit) -> Response:
        token = visit.session.csrf_token
        return page("new_request.html", locale=visit.locale, user=visit.user, authenticity_token=token)

    @app.post("/hc/<locale>/requests")
    @customer_page(form=True)
    def submit_request(visit: Visit) -> Response:
        locale, user = visit.locale, visit.user
        fields = {"subject": request.form.get("subject", ""), "comment": {"body": request.form.get("description", "")}}
        try:
            created = zendesk.create_request(user["id"], fields)
        except SandboxError as error:
            return page(
                "message.html", error.status, locale=locale, user=user, heading="Not saved", message=error.description
            )
        return redirect(f"/hc/{locale}/requests/{created['id']}", 303)

    @app.get("/hc/theming/assets/<name>")
    def theme_asset(name: str) -> Response:
        suffix = name[name.rfind(".") :] if "." in name else ""
        answer = Response(help_center.asset(name), mimetype=_CONTENT_TYPES.get(suffix, "text/plain"))
        answer.headers["X-Content-Type-Options"] = "nosniff"
        answer.headers["Cache-Control"] = "no-store"
        return answer

    @app.get("/__sandbox__/hc/sign_in")
    def sign_in() -> Response:
        """Sign in to the Help Center as `user_id` (a session cookie), then go to `return_to` (a /hc/ path)."""
        user_id = request.args.get("user_id", "")
        if not user_id.isdigit():
            raise bad_request("user_id: expected a user's id")
        session = help_center.sign_in(int(user_id))
        answer = redirect(_help_center_path(request.args.get("return_to")), 303)
        answer.set_cookie(SESSION_COOKIE, session.key, httponly=True, samesite="Lax", path="/")
        return answer

    @app.get("/__sandbox__/hc/sign_out")
    def sign_out() -> Response:
        help_center.sign_out(request.cookies.get(SESSION_COOKIE))
        answer = redirect("/hc/", 303)
        answer.delete_cookie(SESSION_COOKIE, path="/")
        return answer

    @app.put("/__sandbox__/hc/theme")
    def install_theme() -> Response:
        """Install the files `escalations package-theme` wrote: {"files": {path: text}}."""
        body = request.get_json(force=True, silent=True)
        files = body.get("files") if isinstance(body, dict) else None
        if not isinstance(files, dict):
            raise bad_request('expected {"files": {"request_page_snippet.hbs": "...", "assets/...": "..."}}')
        help_center.install_theme(files)
        return no_content()

    @app.delete("/__sandbox__/hc/theme")
    def remove_theme() -> Response:
        help_center.remove_theme()
        return no_content()


def _help_center_path(given: str | None) -> str:
    """A path within the Help Center to go to after signing in; anything else goes to its start."""
    parts = urlsplit(given or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/hc/"):
        return "/hc/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _when(stamp: str) -> str:
    return stamp.replace("T", " ").replace("Z", " UTC")


def _details(help_center: HelpCenter, fields: list[dict[str, str]]) -> Markup | None:
    """The request's fields as the theme's details snippet lists them (rendered and escaped), when installed."""
    rendered = help_center.request_details(fields)
    return Markup(rendered) if rendered is not None else None  # rendered and escaped


def _shown_fields(zendesk: SandboxZendesk, shown: dict[str, Any]) -> list[dict[str, str]]:
    """The request's custom fields with a value, titled, a drop-down's value by its option's name."""
    fields = {field["id"]: field for field in zendesk.ticket_fields()}
    listed = []
    for item in shown.get("custom_fields") or []:
        field, value = fields.get(item["id"]), item.get("value")
        if field is None or value in (None, ""):
            continue
        options = {option["value"]: option["name"] for option in field.get("custom_field_options") or []}
        listed.append({"title": field["title"], "value": str(options.get(value, value))})
    return listed
