"""Routes for triggers and views, which share one shape."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify

from escalations.sandbox.core import BusinessRuleKind
from escalations.sandbox.routes.common import created, listing, no_content, object_body

if TYPE_CHECKING:
    from escalations.sandbox.zendesk import SandboxZendesk


def add_business_rule_routes(app: Flask, zendesk: SandboxZendesk, kind: BusinessRuleKind, plural: str) -> None:
    """CRUD for triggers (`kind` "trigger") or views ("view")."""
    collection = f"/api/v2/{plural}"
    member = f"{collection}/<int:rule_id>"

    def list_rules() -> Response:
        return jsonify(listing(plural, zendesk.business_rules(kind)))

    def create_rule() -> Response:
        rule: dict[str, Any] = {kind: zendesk.create_business_rule(kind, object_body(kind))}
        # Create Trigger answers 201; Create View answers 200 (spec, CreateView and CreateTrigger).
        return created(rule) if kind == "trigger" else jsonify(rule)

    def show_rule(rule_id: int) -> Response:
        return jsonify({kind: zendesk.business_rule(kind, rule_id)})

    def update_rule(rule_id: int) -> Response:
        return jsonify({kind: zendesk.update_business_rule(kind, rule_id, object_body(kind))})

    def delete_rule(rule_id: int) -> Response:
        zendesk.delete_business_rule(kind, rule_id)
        return no_content()

    if kind == "trigger":

        @app.get("/api/v2/triggers/definitions")
        def list_trigger_definitions() -> Response:
            return jsonify({"definitions": zendesk.trigger_definitions()})

    app.add_url_rule(collection, f"list_{plural}", list_rules, methods=["GET"])
    app.add_url_rule(collection, f"create_{kind}", create_rule, methods=["POST"])
    app.add_url_rule(member, f"show_{kind}", show_rule, methods=["GET"])
    app.add_url_rule(member, f"update_{kind}", update_rule, methods=["PUT"])
    app.add_url_rule(member, f"delete_{kind}", delete_rule, methods=["DELETE"])
