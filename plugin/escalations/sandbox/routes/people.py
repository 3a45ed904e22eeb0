"""Routes for users, groups and group memberships."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, g, jsonify, request

from escalations.sandbox.routes.common import created, current_user, listing, object_body

if TYPE_CHECKING:
    from escalations.sandbox.zendesk import SandboxZendesk


def add_people_routes(app: Flask, zendesk: SandboxZendesk) -> None:
    @app.get("/api/v2/users/me")
    def show_current_user() -> Response:
        user = zendesk.user(current_user()["id"])
        if "authenticity_token" in g:  # a Help Center session's CSRF token, for the page's writes
            user["authenticity_token"] = g.authenticity_token
        return jsonify({"user": user})

    @app.get("/api/v2/users/search")
    def search_users() -> Response:
        return jsonify(listing("users", zendesk.search_users(request.args.get("query", ""))))

    @app.delete("/api/v2/users/<int:user_id>")
    def delete_user(user_id: int) -> Response:
        return jsonify({"user": zendesk.delete_user(user_id)})

    @app.get("/api/v2/users/<int:user_id>")
    def show_user(user_id: int) -> Response:
        return jsonify({"user": zendesk.user(user_id)})

    @app.get("/api/v2/users/show_many")
    def show_many_users() -> Response:
        ids = [int(i) for i in request.args.get("ids", "").split(",") if i.strip().isdigit()]
        return jsonify({"users": zendesk.users(ids=ids)})

    @app.get("/api/v2/users")
    def list_users() -> Response:
        roles = request.args.getlist("role") + request.args.getlist("role[]")
        return jsonify(listing("users", zendesk.users(roles=roles)))

    @app.post("/api/v2/users")
    def create_user() -> Response:
        return created({"user": zendesk.create_user(object_body("user"))})

    @app.get("/api/v2/groups")
    def list_groups() -> Response:
        return jsonify(listing("groups", zendesk.groups()))

    @app.post("/api/v2/groups")
    def create_group() -> Response:
        return created({"group": zendesk.create_group(object_body("group"))})

    @app.get("/api/v2/groups/<int:group_id>")
    def show_group(group_id: int) -> Response:
        return jsonify({"group": zendesk.group(group_id)})

    @app.get("/api/v2/groups/<int:group_id>/memberships")
    def list_group_memberships(group_id: int) -> Response:
        return jsonify(listing("group_memberships", zendesk.group_memberships(group_id)))

    @app.get("/api/v2/group_memberships")
    def list_all_group_memberships() -> Response:
        return jsonify(listing("group_memberships", zendesk.group_memberships()))

    @app.post("/api/v2/group_memberships")
    def create_group_membership() -> Response:
        membership = zendesk.create_group_membership(object_body("group_membership"))
        return created({"group_membership": membership})

    @app.get("/api/v2/business_hours/schedules")
    def list_schedules() -> Response:
        return jsonify({"schedules": zendesk.schedules()})

    @app.get("/api/v2/business_hours/schedules/<int:schedule_id>/holidays")
    def list_schedule_holidays(schedule_id: int) -> Response:
        return jsonify({"holidays": zendesk.schedule_holidays(schedule_id)})
