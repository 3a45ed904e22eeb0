"""The sidebar app package: Zendesk's upload rules checked offline, and a reproducible zip."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from escalations.admin.app_package import (
    AppPackageError,
    build_package,
    check_app,
    main,
    package_files,
)

ROOT = Path(__file__).resolve().parents[1]

EXPECTED_ENTRIES = [
    "assets/dashboard-model.js",
    "assets/dashboard.css",
    "assets/dashboard.html",
    "assets/dashboard.js",
    "assets/escalation.js",
    *(f"assets/i18n/dashboard/{locale}.json" for locale in ("de", "en", "es", "fr", "ja", "pt-BR")),
    "assets/i18n/de.json",
    "assets/i18n/en.json",
    "assets/i18n/es.json",
    "assets/i18n/fr.json",
    "assets/i18n/ja.json",
    "assets/i18n/locales.json",
    "assets/i18n/pt-BR.json",
    "assets/icon_nav_bar.svg",
    "assets/iframe.html",
    "assets/logo-small.png",
    "assets/logo.png",
    "assets/main.css",
    "assets/main.js",
    "assets/ui.js",
    "assets/vendor/garden.css",
    "assets/vendor/uPlot.LICENSE.txt",
    "assets/vendor/uPlot.iife.min.js",
    "assets/vendor/uPlot.min.css",
    "assets/zendesk.js",
    "manifest.json",
    "translations/de.json",
    "translations/en.json",
    "translations/es.json",
    "translations/fr.json",
    "translations/ja.json",
    "translations/pt-BR.json",
]


def png(width: int, height: int) -> bytes:
    """A plain white RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff" * 3 * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A copy of the repository's app, alone in a folder, to break one thing at a time."""
    folder = tmp_path / "app"
    folder.mkdir()
    shutil.copy2(ROOT / "manifest.json", folder / "manifest.json")
    shutil.copytree(ROOT / "translations", folder / "translations")
    shutil.copytree(ROOT / "assets", folder / "assets")
    return folder


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def manifest(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    return lambda app: edit_json(app / "manifest.json", change)


def english(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    return lambda app: edit_json(app / "translations" / "en.json", change)


def write(relative: str, content: bytes | str) -> Callable[[Path], None]:
    def apply(app: Path) -> None:
        path = app / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return apply


def delete(relative: str) -> Callable[[Path], None]:
    return lambda app: (app / relative).unlink()


def with_parameters(*parameters: dict[str, Any], labels: dict[str, str] | None = None) -> Callable[[Path], None]:
    def apply(app: Path) -> None:
        edit_json(app / "manifest.json", lambda m: m.update(parameters=list(parameters)))
        if labels:
            edit_json(
                app / "translations" / "en.json",
                lambda t: t["app"].update(parameters={name: {"label": label} for name, label in labels.items()}),
            )

    return apply


def set_location(location: Any) -> Callable[[Path], None]:
    return manifest(lambda m: m.update(location=location))


ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 18 18"><path d="M9 2 16 16H2Z"/></svg>'


def in_nav_bar(icon: str | None = ICON) -> Callable[[Path], None]:
    """The app in the nav bar with `icon` as its SVG icon, or none."""

    def apply(app: Path) -> None:
        edit_json(
            app / "manifest.json",
            lambda m: m["location"]["support"].update(nav_bar={"url": "assets/dashboard.html"}),
        )
        (app / "assets" / "icon_nav_bar.svg").unlink(missing_ok=True)
        if icon is not None:
            (app / "assets" / "icon_nav_bar.svg").write_text(icon)

    return apply


def incompressible(size: int) -> bytes:
    return random.Random(7).randbytes(size)


BROKEN: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing manifest": (delete("manifest.json"), "manifest.json is missing"),
    "manifest not JSON": (write("manifest.json", '{"name": "Escalation Requests",'), "manifest.json is not valid JSON"),
    "no framework version": (manifest(lambda m: m.pop("frameworkVersion")), "missing required field frameworkVersion"),
    "framework version 1": (
        manifest(lambda m: m.update(frameworkVersion="1.0")),
        "frameworkVersion must be \"2.0\", found '1.0'",
    ),
    "no location": (manifest(lambda m: m.pop("location")), "missing required field location"),
    "v1 location list": (set_location(["ticket_sidebar"]), "location must map the support host"),
    "unknown location": (
        set_location({"support": {"ticket_sidbar": {"url": "assets/iframe.html"}}}),
        "'ticket_sidbar' is not a location in support",
    ),
    "unknown host": (
        set_location({"zendesk": {"ticket_sidebar": "assets/iframe.html"}}),
        "location must map the support host",
    ),
    "missing page": (delete("assets/iframe.html"), "points to assets/iframe.html, which does not exist"),
    "page outside assets": (
        set_location({"support": {"ticket_sidebar": "iframe.html"}}),
        "must point to a file under assets/",
    ),
    "plain http page": (
        set_location({"support": {"ticket_sidebar": "http://example.com/sidebar"}}),
        "must use https",
    ),
    "invalid default locale": (
        manifest(lambda m: m.update(defaultLocale="english")),
        "translations/english.json is missing",
    ),
    "missing translation": (delete("translations/en.json"), "translations/en.json is missing"),
    "translation without a description": (
        english(lambda t: t["app"].pop("long_description")),
        "translations/en.json: missing app.long_description",
    ),
    "translation not JSON": (write("translations/pt-BR.json", '{"app": '), "translations/pt-BR.json is not valid JSON"),
    "translation with a number": (english(lambda t: t["app"].update(name=3)), "app.name must be text"),
    "parameter without a label": (
        with_parameters({"name": "region", "type": "text"}),
        "missing app.parameters.region.label for the parameter 'region'",
    ),
    "logo of the wrong size": (
        write("assets/logo.png", png(300, 300)),
        "assets/logo.png must be 320x320 pixels, found 300x300",
    ),
    "small logo of the wrong size": (
        write("assets/logo-small.png", png(128, 64)),
        "assets/logo-small.png must be 128x128 pixels, found 128x64",
    ),
    "logo not a PNG": (write("assets/logo.png", b"GIF89a\x01\x00\x01\x00"), "assets/logo.png is not a PNG file"),
    "missing small logo": (delete("assets/logo-small.png"), "assets/logo-small.png is missing"),
    "stale sidebar strings": (
        english(lambda t: t["sidebar"].update(loading="Loading…")),
        "assets/i18n/en.json is missing or out of date with translations/en.json",
    ),
    "nav bar without an icon": (
        in_nav_bar(None),
        "assets/icon_nav_bar.svg is missing: location.support.nav_bar is opened from an icon",
    ),
    "icon not SVG markup": (in_nav_bar("<svg"), "assets/icon_nav_bar.svg is not well-formed SVG markup"),
    "icon without the SVG namespace": (
        in_nav_bar('<svg viewBox="0 0 18 18"><path d="M0 0h9v9z"/></svg>'),
        "assets/icon_nav_bar.svg must be an <svg> element in the SVG namespace",
    ),
    "icon without a viewBox": (
        in_nav_bar('<svg xmlns="http://www.w3.org/2000/svg" width="18"><path d="M0 0h9v9z"/></svg>'),
        "the <svg> needs a viewBox",
    ),
    "icon with a fixed colour": (
        in_nav_bar('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 18 18"><path fill="#1f73b7" d="M0 0"/></svg>'),
        "fill='#1f73b7' fixes a colour",
    ),
    "stale dashboard strings": (
        english(lambda t: t["dashboard"].update(title="Escalation overview")),
        "assets/i18n/dashboard/en.json is missing or out of date with translations/en.json",
    ),
    "the dashboard without its icon": (
        delete("assets/icon_nav_bar.svg"),
        "assets/icon_nav_bar.svg is missing: location.support.nav_bar is opened from an icon",
    ),
    "package over 2 MB": (write("assets/noise.png", incompressible(2_100_000)), "Zendesk accepts at most 2 MB"),
}


def test_the_repository_app_passes_every_check() -> None:
    assert check_app(ROOT) == []


def test_a_clean_copy_of_the_app_passes(app: Path) -> None:
    assert check_app(app) == []


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_app_is_refused_with_a_message_naming_the_problem(app: Path, name: str) -> None:
    breaking, message = BROKEN[name]
    breaking(app)

    problems = check_app(app)

    assert any(message in problem for problem in problems), problems


def test_a_manifest_in_a_subfolder_is_pointed_out(tmp_path: Path, app: Path) -> None:
    [problem] = check_app(tmp_path)
    assert "found app/manifest.json" in problem


def test_the_projects_own_files_beside_the_app_are_not_its_business(app: Path) -> None:
    for name in ("pyproject.toml", "README.md", "package.json", ".gitignore", "run.sh"):
        (app / name).write_text("")
    (app / "plugin").mkdir()
    (app / "plugin" / "cli.py").write_text("")
    (app / ".ci").mkdir()
    (app / ".ci" / "run").write_text("")

    assert check_app(app) == []
    assert package_files(app) == EXPECTED_ENTRIES


def test_the_dashboard_is_the_apps_nav_bar_page_with_an_svg_icon() -> None:
    manifest = json.loads((ROOT / "manifest.json").read_text())
    assert manifest["location"]["support"]["nav_bar"] == {"url": "assets/dashboard.html"}
    assert (ROOT / "assets" / "icon_nav_bar.svg").is_file()


def test_a_nav_bar_location_with_a_plain_svg_icon_is_accepted(app: Path) -> None:
    in_nav_bar()(app)

    assert check_app(app) == []


def test_the_zip_holds_exactly_the_app_files(app: Path, tmp_path: Path) -> None:
    (app / "assets" / ".DS_Store").write_bytes(b"\x00")
    (app / "assets" / "main.js.map").write_text("{}")

    zip_path = build_package(app, tmp_path / "dist")

    assert zip_path == tmp_path / "dist" / "escalation-requests-1.0.0.zip"
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.namelist() == EXPECTED_ENTRIES
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert archive.read("manifest.json") == (app / "manifest.json").read_bytes()
        assert archive.testzip() is None


def test_the_zip_is_byte_identical_when_built_twice(app: Path, tmp_path: Path) -> None:
    first = build_package(app, tmp_path / "one").read_bytes()
    for path in app.rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    second = build_package(app, tmp_path / "two").read_bytes()

    assert first == second


def test_packaging_refuses_an_app_with_problems(app: Path, tmp_path: Path) -> None:
    write("assets/logo.png", png(64, 64))(app)

    with pytest.raises(AppPackageError) as refused:
        build_package(app, tmp_path / "dist")

    assert any("assets/logo.png must be 320x320" in problem for problem in refused.value.problems)
    assert not (tmp_path / "dist").exists()


def test_the_command_prints_the_zip_path(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--source", str(app)]) == 0

    assert capsys.readouterr().out.strip() == str(app / "dist" / "escalation-requests-1.0.0.zip")
    assert (app / "dist" / "escalation-requests-1.0.0.zip").is_file()
    assert check_app(app) == [], "the dist folder beside the app does not disturb it"


def test_the_command_prints_one_problem_per_line_and_fails(
    app: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    delete("assets/logo-small.png")(app)
    manifest(lambda m: m.update(frameworkVersion="1.0"))(app)

    assert main(["--source", str(app), "--dist", str(tmp_path / "out")]) == 1

    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert any("frameworkVersion" in line for line in lines)
    assert any("assets/logo-small.png is missing" in line for line in lines)
    assert not (tmp_path / "out").exists()


def test_the_generated_sidebar_strings_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_app_assets.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def load_build_script() -> Any:
    spec = importlib.util.spec_from_file_location("build_app_assets", ROOT / "scripts" / "build_app_assets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_vendored_libraries_are_byte_for_byte_what_was_fetched_and_checked() -> None:
    readme = (ROOT / "assets" / "vendor" / "README").read_text()
    recorded = dict(re.findall(r"^- (\S+) sha256 ([0-9a-f]{64})$", readme, re.MULTILINE))
    assert set(recorded) == {"garden.css", "uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE.txt"}
    for name, digest in recorded.items():
        assert hashlib.sha256((ROOT / "assets" / "vendor" / name).read_bytes()).hexdigest() == digest, name
    assert "MIT" in (ROOT / "assets" / "vendor" / "uPlot.LICENSE.txt").read_text()


def test_a_hand_edited_vendored_file_is_reported(app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build = load_build_script()
    monkeypatch.setattr(build, "VENDOR", app / "assets" / "vendor")
    assert build.altered_vendor_files() == []

    with (app / "assets" / "vendor" / "uPlot.iife.min.js").open("a") as script:
        script.write("\nwindow.extra = 1;\n")

    assert build.altered_vendor_files() == ["assets/vendor/uPlot.iife.min.js"]
