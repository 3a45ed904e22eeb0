"""One release identity: the licence, and one version for the package, the app, the API description and
`escalations --version`, with a changelog entry for it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib.metadata import metadata, version

import yaml

from escalations.admin.cli import DISTRIBUTION
from tests.conftest import ROOT

KEEP_A_CHANGELOG_SECTIONS = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def project() -> dict[str, object]:
    table: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return table


def test_the_package_the_app_and_the_api_description_carry_one_version() -> None:
    released = project()["version"]
    assert version(DISTRIBUTION) == released, "the installed metadata is stale: pip install -e '.[test]'"
    assert json.loads((ROOT / "manifest.json").read_text())["version"] == released
    assert yaml.safe_load((ROOT / "openapi.yaml").read_text())["info"]["version"] == released


def test_escalations_version_prints_the_package_version() -> None:
    answer = subprocess.run(
        [sys.executable, "-m", "escalations.admin.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert answer.returncode == 0 and answer.stdout == f"escalations {project()['version']}\n"


def test_the_licence_is_apache_2_0_in_the_metadata_and_in_full_in_license() -> None:
    assert project()["license"] == "Apache-2.0"
    assert metadata(DISTRIBUTION)["License-Expression"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert re.match(r"\s*Apache License\s+Version 2\.0, January 2004\s+http://www\.apache\.org/licenses/", text)
    for heading in ("TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION", "9. Accepting Warranty"):
        assert heading in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_changelog_keeps_a_changelog_with_the_current_version_dated_and_newest_first() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog\n")
    headings = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d\d-\d\d))?$", text, re.MULTILINE)
    assert len(headings) == len(re.findall(r"^## ", text, re.MULTILINE)), "a version heading is malformed"
    assert headings[0] == ("Unreleased", "")
    releases = [(tuple(int(part) for part in name.split(".")), date) for name, date in headings[1:]]
    assert all(date for _, date in releases), "every release has its date"
    assert releases == sorted(releases, reverse=True), "newest first"
    current = tuple(int(part) for part in str(project()["version"]).split("."))
    assert current in [number for number, _ in releases]
    sections = set(re.findall(r"^### (.+)$", text, re.MULTILINE))
    assert sections <= KEEP_A_CHANGELOG_SECTIONS, sections - KEEP_A_CHANGELOG_SECTIONS
