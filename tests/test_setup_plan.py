"""Setup shows its plan before it writes, owns only what it wrote, and leaves the admin's own edits alone.

The planner is a pure function of what the account has: its rules are tested
as data first; then setup runs in this process against the sandbox over real
HTTP, and the sandbox's request log shows what it wrote.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from escalations.admin.doctor import unhonoured_conditions
from escalations.config import ConfigError, Settings, load_settings
from escalations.core import fields
from escalations.sandbox import SandboxServer, SandboxZendesk
from escalations.service.records import ParkedTickets
from escalations.service.runtime import build_runtime
from escalations.service.storage import make_huey
from escalations.service.sweep import SweepStore, run_sweep
from escalations.zendesk.desired import (
    LEGACY_WEBHOOK_BODY,
    TRIGGER_TITLE,
    condition_key,
    desired_field,
    desired_follow_up_triggers,
    desired_trigger,
    desired_views,
    desired_webhook,
)
from escalations.zendesk.gateway import ZendeskGateway, make_client
from escalations.zendesk.installation import Account, read_account
from escalations.zendesk.provisioning import apply_plan, describe_plan
from escalations.zendesk.setup_plan import Plan, plan_setup
from escalations.zendesk.state import AccountState, load_state, save_state
from tests.conftest import Service
from tests.test_end_to_end import ALICE, BOB

ENV = {
    "ZENDESK_SUBDOMAIN": "acme",
    "ZENDESK_EMAIL": "admin@acme.test",
    "ZENDESK_API_TOKEN": "t",
    "PUBLIC_URL": "https://escalations.acme.test",
}
WEBHOOK = "01JWEBHOOK00000000000000000"
BRANDS = [{"id": 71, "name": "Acme", "default": True}, {"id": 72, "name": "Globex", "default": False}]


def settings(**extra: str) -> Settings:
    return load_settings({**ENV, **extra})


def as_setup_left_it(config: Settings) -> Account:
    """The account as setup leaves it, read back as Zendesk reads it (views' conditions and columns)."""
    field_ids = {key: 500 + n for n, key in enumerate(fields.FIELD_KEYS)}
    ticket_fields = [
        {**desired_field(field, n), "id": field_ids[field.key]} for n, field in enumerate(fields.ESCALATION_FIELDS)
    ]
    webhook = {**desired_webhook(str(config.public_url)), "id": WEBHOOK, "created_at": "2026-11-28T10:00:00Z"}
    desired = [desired_trigger(WEBHOOK, config.phrases.all, config.exclude_tags), *desired_follow_up_triggers(WEBHOOK)]
    triggers = [{**trigger, "id": 300 + n, "position": n} for n, trigger in enumerate(desired)]
    views = [
        {
            "id": 400 + n,
            "title": view["title"],
            "description": view["description"],
            "active": True,
            "conditions": {"all": view["all"], "any": view["any"]},
            "execution": {
                "columns": [{"id": c, "title": str(c)} for c in view["output"]["columns"]],
                "sort_by": "updated",
            },
        }
        for n, view in enumerate(desired_views(field_ids))
    ]
    return Account(
        me={"id": 1, "role": "admin", "email": "admin@acme.test"},
        groups=[{"id": 20, "name": "Support Managers"}],
        ticket_fields=ticket_fields,
        webhooks=[webhook],
        triggers=triggers,
        views=views,
        brands=BRANDS,
    )


def actions(plan: Plan) -> dict[str, str]:
    return {step.role: step.action for step in plan.steps}


def request_trigger(account: Account) -> dict[str, Any]:
    return dict(next(t for t in account.triggers if t["title"] == TRIGGER_TITLE))


# -- the rules, as data ---------------------------------------------------------------------------------


def test_an_account_as_setup_left_it_needs_no_write() -> None:
    config = settings()
    plan = plan_setup(as_setup_left_it(config), config)
    assert plan.writes == ()
    assert set(actions(plan).values()) == {"keep"}


def test_conditions_read_back_in_another_shape_are_the_same_conditions() -> None:
    config = settings(ESCALATION_EXCLUDE_TAGS="vip no_escalation")
    account = as_setup_left_it(config)
    trigger = request_trigger(account)
    reshaped = copy.deepcopy(trigger["conditions"])
    for condition in reshaped["all"]:
        if condition["field"] == "update_type":
            del condition["operator"]  # no operator: `is`
        if condition["field"] == "comment_is_public":
            condition["value"] = True  # a boolean for "true"
        if condition["field"] == "current_tags":
            condition["value"] = "no_escalation vip"  # the tags in another order
    reshaped["all"].reverse()  # and the conditions in another order
    trigger["conditions"] = reshaped
    triggers = [trigger if t["id"] == trigger["id"] else t for t in account.triggers]
    plan = plan_setup(Account(**{**account.__dict__, "triggers": triggers}), config)
    assert plan.writes == ()


def test_setup_removes_only_the_conditions_it_wrote_and_keeps_an_admins() -> None:
    config = settings()
    account = as_setup_left_it(config)
    trigger = request_trigger(account)
    admins = {"field": "priority", "operator": "is_not", "value": "low"}
    trigger["conditions"] = {**trigger["conditions"], "all": [*trigger["conditions"]["all"], admins]}
    trigger["title"], trigger["position"], trigger["active"], trigger["category_id"] = "VIP aware", 1, False, "77"
    triggers = [trigger if t["id"] == trigger["id"] else t for t in account.triggers]
    account = Account(**{**account.__dict__, "triggers": triggers})
    # The last setup wrote the phrase "escalation request"; now the phrases are another.
    written = {
        "trigger:request": [condition_key("any", {"field": "comment_includes_word", "value": "escalation request"})]
    }
    state = AccountState(config.zendesk_base_url, {}, 20, WEBHOOK, "s", 1, "2026-11-28T10:00:00Z", written=written)
    changed = settings(ESCALATION_PHRASES="en=manager please")

    plan = plan_setup(account, changed, state)
    [step] = plan.writes
    method, path, body = step.request or ("", "", {})
    assert (method, path) == ("PUT", f"/api/v2/triggers/{trigger['id']}.json")
    # The conditions and actions (Zendesk replaces both together) and the title as the admin left it;
    # never the position, category or active flag.
    assert set(body["trigger"]) == {"title", "conditions", "actions"} and body["trigger"]["title"] == "VIP aware"
    assert admins in body["trigger"]["conditions"]["all"]
    phrases = [c["value"] for c in body["trigger"]["conditions"]["any"] if c["field"] == "comment_includes_word"]
    assert phrases == ["manager please"]
    assert [str(d) for d in step.differences] == [
        "conditions.any: comment_includes_word is escalation request → comment_includes_word is manager please"
    ]


def test_a_trigger_or_view_is_found_by_its_mark_whatever_its_title() -> None:
    config = settings()
    account = as_setup_left_it(config)
    renamed_triggers = [{**t, "title": f"Renamed {t['id']}"} for t in account.triggers]
    renamed_views = [{**v, "title": f"Renamed {v['id']}"} for v in account.views]
    renamed_fields = [{**f, "title": f"Renamed {f['id']}"} for f in account.ticket_fields]
    moved = Account(
        **{**account.__dict__, "triggers": renamed_triggers, "views": renamed_views, "ticket_fields": renamed_fields}
    )
    plan = plan_setup(moved, config)  # no state: found by their marks alone
    assert plan.writes == ()
    assert {step.name for step in plan.steps if step.kind == "trigger"} == {
        f"Renamed {t['id']}" for t in account.triggers
    }


def test_an_account_set_up_by_an_earlier_release_is_brought_up_to_date_in_place() -> None:
    config = settings()
    account = as_setup_left_it(config)
    legacy_fields = [{**f, "agent_description": ""} for f in account.ticket_fields]  # no marks yet
    legacy_views = [{**v, "description": v["description"].rsplit(" [", 1)[0]} for v in account.views]
    legacy_triggers = []
    for trigger in account.triggers:
        legacy = copy.deepcopy(trigger)
        legacy["actions"] = [{"field": "notification_webhook", "value": [WEBHOOK, LEGACY_WEBHOOK_BODY]}]
        if trigger["title"] == TRIGGER_TITLE:  # the first release wrote the phrase in `all`
            legacy["conditions"]["any"] = []
            legacy["conditions"]["all"].append(
                {"field": "comment_includes_word", "operator": "is", "value": "escalation request"}
            )
        legacy_triggers.append(legacy)
    earlier = Account(
        **{**account.__dict__, "ticket_fields": legacy_fields, "views": legacy_views, "triggers": legacy_triggers}
    )
    plan = plan_setup(earlier, config)
    assert "create" not in actions(plan).values()  # found by their earlier titles: nothing duplicated
    request = next(step for step in plan.steps if step.role == "trigger:request")
    body = (request.request or ("", "", {}))[2]["trigger"]
    assert {"field": "comment_includes_word", "operator": "is", "value": "escalation request"} in body["conditions"][
        "any"
    ]
    assert not any(c["field"] == "comment_includes_word" for c in body["conditions"]["all"])
    assert body["actions"] == desired_trigger(WEBHOOK)["actions"]
    assert all(step.action == "update" for step in plan.steps if step.kind in ("ticket field", "view", "trigger"))


def test_a_brand_the_settings_name_must_exist_and_the_error_names_those_there_are() -> None:
    config = settings(ESCALATION_GROUP_BY_BRAND="Initech=Initech Managers")
    with pytest.raises(ConfigError) as error:
        plan_setup(as_setup_left_it(config), config)
    assert str(error.value) == (
        "ESCALATION_GROUP_BY_BRAND: no brand named 'Initech' in Zendesk (there are: 'Acme', 'Globex')"
    )


def test_each_brands_group_is_created_and_an_excluded_brand_is_written_into_the_trigger() -> None:
    config = settings(ESCALATION_GROUP_BY_BRAND="globex=Globex Managers", ESCALATION_EXCLUDE_BRANDS="Acme")
    plan = plan_setup(as_setup_left_it(config), config)
    assert actions(plan)["group:Globex Managers"] == "create" and actions(plan)["group:Support Managers"] == "keep"
    assert plan.brand_groups == {72: "group:Globex Managers"} and plan.excluded_brand_ids == (71,)
    request = next(step for step in plan.steps if step.role == "trigger:request")
    assert [str(d) for d in request.differences] == ["conditions.all: (none) → brand_id is_not 71"]


# -- setup against the sandbox, in this process -----------------------------------------------------------


@dataclass
class Admin:
    """An admin running setup against the sandbox, with the settings and state setup would use."""

    zendesk: SandboxZendesk
    server: SandboxServer
    data_dir: Path

    def settings(self, **extra: str) -> Settings:
        return load_settings(
            {
                "ZENDESK_SUBDOMAIN": "sandbox",
                "ZENDESK_EMAIL": self.zendesk.email,
                "ZENDESK_API_TOKEN": self.zendesk.api_token,
                "ZENDESK_API_URL": self.server.url,
                "PUBLIC_URL": "http://127.0.0.1:9",
                "ESCALATIONS_DATA_DIR": str(self.data_dir),
                **extra,
            }
        )

    def plan(self, **extra: str) -> Plan:
        config = self.settings(**extra)
        state = load_state(config.state_file) if config.state_file.is_file() else None
        return plan_setup(read_account(self.gateway(config)), config, state)

    def setup(self, **extra: str) -> AccountState:
        config = self.settings(**extra)
        state, _ = apply_plan(self.gateway(config), self.plan(**extra), config)
        save_state(config.state_file, state)
        return state

    def gateway(self, config: Settings) -> ZendeskGateway:
        return ZendeskGateway(config, {}, make_client(config))

    def writes(self) -> list[str]:
        return [f"{e['method']} {e['path']}" for e in self.zendesk.requests_log() if e["method"] != "GET"]

    def trigger(self, trigger_id: int) -> dict[str, Any]:
        return self.zendesk.business_rule("trigger", trigger_id)

    def request_deliveries(self, trigger_id: int) -> set[int]:
        """The tickets the request trigger called the webhook for."""
        self.zendesk.wait_for_deliveries()
        return {
            int(d["body"].split('"ticket_id": "')[1].split('"')[0])
            for d in self.zendesk.deliveries()
            if d["trigger_id"] == trigger_id
        }


@pytest.fixture
def admin(zendesk: tuple[SandboxZendesk, SandboxServer], tmp_path: Path) -> Iterator[Admin]:
    account, server = zendesk
    account.webhook_delivery_enabled = False  # deliveries are recorded, not sent: nothing serves here
    yield Admin(account, server, tmp_path / "var")


def test_a_client_for_the_sandbox_reaches_it_and_leaves_the_process_environment_alone(admin: Admin) -> None:
    environment = dict(os.environ)
    gateway = admin.gateway(admin.settings())
    admin.zendesk.reset_requests_log()
    read_account(gateway)
    assert dict(os.environ) == environment
    assert admin.zendesk.requests_log()  # the calls reached the sandbox, not sandbox.zendesk.com


def test_a_second_setup_on_an_unchanged_account_sends_no_write(admin: Admin) -> None:
    admin.setup()
    admin.zendesk.reset_requests_log()
    admin.setup()
    assert admin.writes() == []


def test_an_admins_added_condition_survives_setup_and_still_takes_effect(admin: Admin) -> None:
    state = admin.setup()
    request = state.trigger_ids["request"]
    conditions = admin.trigger(request)["conditions"]
    vip = {"field": "current_tags", "operator": "not_includes", "value": "vip"}
    edit = {
        "title": "Escalations, not for VIPs",
        "position": 1,
        "conditions": {**conditions, "all": [*conditions["all"], vip]},
    }
    admin.zendesk.update_business_rule("trigger", request, edit)

    admin.setup(ESCALATION_PHRASES="en=escalation request|manager please")  # setup has something to write
    after = admin.trigger(request)
    assert (
        vip in after["conditions"]["all"] and after["title"] == "Escalations, not for VIPs" and after["position"] == 1
    )
    phrases = {c["value"] for c in after["conditions"]["any"] if c["field"] == "comment_includes_word"}
    assert phrases == {"escalation request", "manager please"}
    assert len(admin.zendesk.business_rules("trigger")) == 3

    admin.zendesk.api_update_ticket(2, {"tags": ["vip"]})
    admin.zendesk.add_comment(1, author_id=ALICE, body="Escalation request: charged twice.")
    admin.zendesk.add_comment(2, author_id=BOB, body="Manager please: still locked out.")
    assert admin.request_deliveries(request) == {1}  # the VIP's comment did not call the service


def test_a_renamed_trigger_and_view_are_found_again_even_without_the_state(admin: Admin) -> None:
    state = admin.setup()
    admin.zendesk.update_business_rule("trigger", state.trigger_ids["staff_reply"], {"title": "Manager replied?"})
    admin.zendesk.update_business_rule("view", state.view_ids["overdue"], {"title": "Late escalations"})
    admin.settings().state_file.unlink()  # the state is lost: the marks alone find the objects
    admin.zendesk.reset_requests_log()

    again = admin.setup()
    assert admin.writes() == []
    assert again.trigger_ids == state.trigger_ids and again.view_ids == state.view_ids
    assert len(admin.zendesk.business_rules("trigger")) == 3 and len(admin.zendesk.business_rules("view")) == 2


def test_an_account_set_up_by_an_earlier_release_is_migrated_in_place_with_its_state(admin: Admin) -> None:
    current = admin.setup()
    zendesk = admin.zendesk
    # What the earlier release left: no marks, one webhook body for every trigger, a version 1 state.
    for field_id in current.field_ids.values():
        zendesk.update_ticket_field(field_id, {"agent_description": ""})
    for view_id in current.view_ids.values():
        zendesk.update_business_rule(
            "view", view_id, {"description": "Open tickets whose customer asked for an escalation."}
        )
    for trigger_id in current.trigger_ids.values():
        zendesk.update_business_rule(
            "trigger",
            trigger_id,
            {"actions": [{"field": "notification_webhook", "value": [current.webhook_id, LEGACY_WEBHOOK_BODY]}]},
        )
    version_1 = {
        **current.to_dict(),
        "trigger_id": current.trigger_ids["request"],
        "view_id": current.view_ids["escalated"],
    }
    for key in ("version", "trigger_ids", "view_ids", "brand_group_ids", "excluded_brand_ids", "written"):
        version_1.pop(key)
    admin.settings().state_file.write_text(json.dumps(version_1))
    zendesk.reset_requests_log()

    plan = admin.plan()
    assert "create" not in {step.action for step in plan.steps}
    migrated = admin.setup()
    assert migrated.trigger_ids == current.trigger_ids and migrated.view_ids == current.view_ids
    assert migrated.field_ids == current.field_ids and migrated.version == 2
    zendesk.reset_requests_log()
    admin.setup()
    assert admin.writes() == []  # migrated once, settled


def test_setup_dry_run_prints_the_plan_and_writes_nothing(service_env: Service) -> None:
    dry = service_env.run("setup", "--dry-run").stdout
    assert f"create     trigger: {TRIGGER_TITLE}" in dry and "create     webhook: " in dry
    assert dry.splitlines()[-1].startswith("dry run: nothing was written (")
    log = service_env.zendesk.requests_log()
    assert log and {entry["method"] for entry in log} == {"GET"}
    assert not (service_env.data_dir / "state.json").exists()

    service_env.run("setup")
    state = load_state(service_env.data_dir / "state.json")
    trigger = service_env.zendesk.business_rule("trigger", state.trigger_ids["request"])
    mine = [c for c in trigger["conditions"]["all"] if c["field"] != "role"]
    service_env.zendesk.update_business_rule(
        "trigger", state.trigger_ids["request"], {"conditions": {**trigger["conditions"], "all": mine}}
    )
    service_env.zendesk.reset_requests_log()
    dry = service_env.run("setup", "--dry-run").stdout
    assert f"update     trigger: {TRIGGER_TITLE}" in dry
    assert "             conditions.all: (none) → role is end_user" in dry
    assert {entry["method"] for entry in service_env.zendesk.requests_log()} == {"GET"}


def test_the_dry_run_summary_counts_what_setup_would_do() -> None:
    config = settings(ESCALATION_GROUP_BY_BRAND="Globex=Globex Managers")
    lines = describe_plan(plan_setup(as_setup_left_it(config), config))
    assert lines[0] == "keep       group: Support Managers" and lines[1] == "create     group: Globex Managers"
    assert lines[-1] == "dry run: nothing was written (1 to create; 17 unchanged)"


def test_excluded_tags_are_written_into_the_trigger_and_honoured_by_the_catch_up_sweep(
    admin: Admin, tmp_path: Path
) -> None:
    state = admin.setup(ESCALATION_EXCLUDE_TAGS="vip, key_account")
    conditions = admin.trigger(state.trigger_ids["request"])["conditions"]["all"]
    assert {"field": "current_tags", "operator": "not_includes", "value": "vip key_account"} in conditions

    zendesk = admin.zendesk
    zendesk.api_update_ticket(2, {"tags": ["vip"]})
    # The webhooks never came: only the sweep, which never sees the trigger, finds these comments.
    zendesk.add_comment(1, author_id=ALICE, body="Escalation request: charged twice.", deliver_webhooks=False)
    zendesk.add_comment(2, author_id=BOB, body="Escalation request: still locked out.", deliver_webhooks=False)
    runtime = build_runtime(admin.settings(ESCALATION_EXCLUDE_TAGS="vip, key_account"))
    queue = make_huey(None, tmp_path / "queue")
    run_sweep(
        runtime.gateway(),
        SweepStore(queue, runtime.state),
        ParkedTickets(queue),
        runtime.handle,
        runtime.clock,
        retry_later=lambda ticket_id: None,
    )

    def recorded(ticket_id: int) -> dict[str, Any]:
        return fields.recorded_values(zendesk.ticket(ticket_id)["custom_fields"], state.field_ids)

    assert recorded(1)[fields.STATUS] == fields.status_tag(fields.STATUS_REQUESTED)
    assert recorded(2)[fields.STATUS] is None and recorded(2)[fields.HANDLED_THROUGH] is None
    assert [c for c in zendesk.comments(2) if c["author_id"] == zendesk.api_user_id] == []  # no answer at all


def test_conditions_added_by_hand_are_named_unless_the_policy_honours_them_too() -> None:
    trigger = desired_trigger(WEBHOOK)
    owned = frozenset(condition_key(group, c) for group in ("all", "any") for c in trigger["conditions"][group])
    added = [
        {"field": "current_tags", "operator": "not_includes", "value": "vip"},  # honoured: an excluded tag
        {"field": "brand_id", "operator": "is_not", "value": "72"},  # honoured: an excluded brand
        {"field": "priority", "operator": "is", "value": "urgent"},
        {"field": "current_tags", "operator": "not_includes", "value": "vip partner"},  # partner is not excluded
    ]
    trigger["conditions"]["all"] += added
    found = unhonoured_conditions(trigger, owned, ("vip", "key_account"), (72,))
    assert found == ["priority is urgent", "current_tags not_includes partner vip"]


def test_doctor_names_a_condition_added_by_hand_that_the_sweep_cannot_honour(service_env: Service) -> None:
    service_env.run("setup")
    state = load_state(service_env.data_dir / "state.json")
    zendesk = service_env.zendesk
    trigger = zendesk.business_rule("trigger", state.trigger_ids["request"])
    urgent = {"field": "priority", "operator": "is", "value": "urgent"}
    zendesk.update_business_rule(
        "trigger",
        trigger["id"],
        {"conditions": {**trigger["conditions"], "all": [*trigger["conditions"]["all"], urgent]}},
    )
    doctor = service_env.run("doctor", check=False).stdout
    assert (
        f"warn  trigger '{TRIGGER_TITLE}' has conditions added by hand that the catch-up sweep cannot honour: "
        "priority is urgent."
    ) in doctor
