"""Check and package the Zendesk sidebar app (manifest.json, translations/, assets/).

Zendesk validates an uploaded app on its servers, and `zcli apps:validate` runs
the same validation against an account (the manifest's fields, locations,
parameters, translations, file types, SVG sanitising: Zendesk's "Validating
your app"). This module does not repeat that: it checks offline what can break
this app, its manifest's required fields and locations, the pages and icon they
open, the translations it reads (and the copies the pages read, see
scripts/build_app_assets.py), the logos and the zip's size, then builds the zip
that Admin Center accepts:

    escalations package-app [--source DIR] [--dist DIR]

The app lives at the top of the repository beside the Python project. Only
manifest.json, requirements.json (if any), translations/*.json and the runtime
files under assets/ are packaged; the project's other files are ignored.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import struct
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

FRAMEWORK_VERSION = "2.0"

# The Support locations (zendesk_apps_support Location); this app is a Support app.
SUPPORT_LOCATIONS = frozenset(
    {
        "top_bar",
        "nav_bar",
        "ticket_sidebar",
        "new_ticket_sidebar",
        "user_sidebar",
        "organization_sidebar",
        "background",
        "modal",
        "ticket_editor",
        "system_top_bar",
    }
)
# Locations opened by clicking an icon (zendesk_apps_support Package::LOCATIONS_WITH_ICONS_PER_PRODUCT). Zendesk
# looks for assets/icon_<location>.svg, draws it 18x18 and colours it with the account's brand colours; without one
# the agent gets a placeholder.
ICON_LOCATIONS = frozenset({"top_bar", "nav_bar", "system_top_bar", "ticket_editor"})
SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"
# Colours an icon may name itself: anything else stops Zendesk from painting it in the account's colours.
ICON_PAINTS = frozenset({"none", "currentcolor", "inherit"})

REQUIRED_APP_TEXTS = ("name", "short_description", "long_description", "installation_instructions")
LOGOS = {"assets/logo.png": (320, 320), "assets/logo-small.png": (128, 128)}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# "The file size limit of the zip file for a private app is 2 MB."
MAX_PACKAGE_BYTES = 2_000_000

FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class AppPackageError(Exception):
    """The app has problems that would break it in Zendesk."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# ---- reading -------------------------------------------------------------------


def _load_json(path: Path, label: str, problems: list[str]) -> Any:
    """Parsed JSON, or None after recording why it could not be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        problems.append(f"{label} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})")
    except UnicodeDecodeError:
        problems.append(f"{label} is not UTF-8 text")
    return None


def png_size(path: Path) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk, or None if it is not a PNG."""
    with path.open("rb") as png:
        head = png.read(24)
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _runtime_file(relative: Path) -> bool:
    """Whether a file under assets/ is needed by the app in the browser."""
    name = relative.name
    if any(part.startswith(".") for part in relative.parts):
        return False
    return not (name.upper().startswith("README") or name.endswith((".md", ".map")) or name == "Thumbs.db")


def package_files(root: Path) -> list[str]:
    """The app's files as zip entry names, sorted: what Zendesk gets and nothing else."""
    entries = ["manifest.json"]
    if (root / "requirements.json").is_file():
        entries.append("requirements.json")
    translations = root / "translations"
    if translations.is_dir():
        entries += [f"translations/{path.name}" for path in translations.iterdir() if path.is_file()]
    assets = root / "assets"
    if assets.is_dir():
        for path in assets.rglob("*"):
            relative = path.relative_to(root)
            if (path.is_file() or path.is_symlink()) and _runtime_file(relative.relative_to("assets")):
                entries.append(relative.as_posix())
    return sorted(set(entries))


# ---- checks --------------------------------------------------------------------


def _check_location_url(root: Path, where: str, url: Any, problems: list[str]) -> None:
    if not isinstance(url, str) or not url.strip():
        problems.append(f"manifest.json: {where} does not specify a URL")
        return
    if re.match(r"^[a-z][a-z0-9+.-]*://", url, re.IGNORECASE):
        if not url.lower().startswith("https://"):
            problems.append(f"manifest.json: {where} URL {url} must use https")
        return
    path = re.split(r"[?#]", url, maxsplit=1)[0]
    if not path.startswith("assets/"):
        problems.append(f"manifest.json: {where} URL {url} must point to a file under assets/ or be an https URL")
    elif not (root / path).is_file():
        problems.append(f"manifest.json: {where} points to {path}, which does not exist")


def _locations(root: Path, manifest: dict[str, Any], problems: list[str]) -> list[str]:
    """Check the app's Support locations and the pages they open; return the locations."""
    location = manifest.get("location")
    if location is None:
        problems.append("manifest.json: missing required field location")
        return []
    places = location.get("support") if isinstance(location, dict) else None
    if not isinstance(places, dict) or not places:
        problems.append(
            "manifest.json: location must map the support host to its locations and URLs, "
            'e.g. {"support": {"ticket_sidebar": {"url": "assets/iframe.html"}}}'
        )
        return []
    for place, options in places.items():
        if place not in SUPPORT_LOCATIONS:
            known = ", ".join(sorted(SUPPORT_LOCATIONS))
            problems.append(f"manifest.json: {place!r} is not a location in support (locations: {known})")
            continue
        url = options.get("url") if isinstance(options, dict) else options
        _check_location_url(root, f"location.support.{place}", url, problems)
    return [place for place in places if place in SUPPORT_LOCATIONS]


def _check_parameter_labels(manifest: dict[str, Any], translation: dict[str, Any] | None, problems: list[str]) -> None:
    """Every setting the app asks the admin for needs its label in the default translation."""
    labels = _dig(translation, "app", "parameters")
    for parameter in manifest.get("parameters") or []:
        name = parameter.get("name") if isinstance(parameter, dict) else None
        if translation is None or not isinstance(name, str):
            continue
        label = _dig(labels, name, "label")
        if not (isinstance(label, str) and label.strip()):
            problems.append(
                f"translations/{manifest.get('defaultLocale')}.json: missing app.parameters.{name}.label "
                f"for the parameter {name!r}"
            )


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _non_text_leaves(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _non_text_leaves(child, f"{path}.{key}" if path else key)
    elif not isinstance(value, str):
        yield path or "(top level)"


def _check_translations(root: Path, default_locale: Any, problems: list[str]) -> dict[str, Any] | None:
    """Check translations/*.json; return the default locale's translation if it is usable."""
    default: dict[str, Any] | None = None
    for path in sorted((root / "translations").glob("*.json")):
        label = f"translations/{path.name}"
        data = _load_json(path, label, problems)
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(f"{label} must be a JSON object")
            continue
        for leaf in _non_text_leaves(data):
            problems.append(f"{label}: {leaf} must be text")
        if path.stem == default_locale:
            default = data
    wanted = f"translations/{default_locale}.json"
    if not (root / wanted).is_file():
        problems.append(f"{wanted} is missing: the default locale {default_locale!r} needs a translation file")
    elif default is not None:
        for key in REQUIRED_APP_TEXTS:
            value = _dig(default, "app", key)
            if not (isinstance(value, str) and value.strip()):
                problems.append(f"{wanted}: missing app.{key}")
    return default


# The pages' strings, copied from translations/<locale>.json at build time: part → folder under assets/.
PAGE_STRINGS = {"sidebar": "assets/i18n", "dashboard": "assets/i18n/dashboard"}


def _check_sidebar_strings(root: Path, problems: list[str]) -> None:
    """The pages' strings in assets/i18n/ must match translations/ (copied at build time)."""
    expected: dict[str, Any] = {}
    copies: list[tuple[str, str, Any]] = []
    for path in sorted((root / "translations").glob("*.json")):
        try:
            strings = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if not isinstance(strings, dict):
            continue
        for part, folder in PAGE_STRINGS.items():
            if isinstance(strings.get(part), dict):
                copies.append((f"{folder}/{path.stem}.json", path.stem, strings[part]))
        if isinstance(strings.get("sidebar"), dict):
            expected[path.stem] = strings["sidebar"]
    if not expected:
        return
    hint = "run: python scripts/build_app_assets.py"
    for entry, locale, part in copies:
        try:
            current = json.loads((root / entry).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            current = None
        if current != part:
            problems.append(f"{entry} is missing or out of date with translations/{locale}.json; {hint}")
    try:
        index = json.loads((root / "assets" / "i18n" / "locales.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        index = None
    if not isinstance(index, dict) or sorted(index.get("locales") or []) != sorted(expected):
        problems.append(f"assets/i18n/locales.json is missing or does not list {', '.join(sorted(expected))}; {hint}")


def _icon_problems(text: str, entry: str) -> list[str]:
    """What stops Zendesk from drawing an icon 18x18 in the account's colours."""
    try:
        svg = ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        return [f"{entry} is not well-formed SVG markup: {error}"]
    if svg.tag != f"{SVG_NAMESPACE}svg":
        return [f'{entry} must be an <svg> element in the SVG namespace (xmlns="http://www.w3.org/2000/svg")']
    problems = []
    if "viewBox" not in svg.attrib:
        problems.append(f"{entry}: the <svg> needs a viewBox so that Zendesk can scale it to 18x18")
    for element in svg.iter():
        for attribute, value in element.attrib.items():
            local = attribute.rsplit("}", 1)[-1]
            if local in ("fill", "stroke") and value.strip().lower() not in ICON_PAINTS:
                problems.append(
                    f"{entry}: {local}={value!r} fixes a colour; leave fill and stroke out (or currentColor) "
                    "so that Zendesk paints the icon in the account's colours"
                )
    return problems


def _check_icons(root: Path, locations: list[str], problems: list[str]) -> None:
    for place in sorted(set(locations) & ICON_LOCATIONS):
        entry = f"assets/icon_{place}.svg"
        if not (root / entry).is_file():
            problems.append(
                f"{entry} is missing: location.support.{place} is opened from an icon, and Zendesk needs it as an "
                "SVG (drawn 18x18 in the account's colours)"
            )
            continue
        try:
            text = (root / entry).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            problems.append(f"{entry} is not UTF-8 text")
            continue
        problems.extend(_icon_problems(text, entry))


def _check_logos(root: Path, problems: list[str]) -> None:
    for name, (width, height) in LOGOS.items():
        path = root / name
        if not path.is_file():
            problems.append(f"{name} is missing: Zendesk needs a {width}x{height} PNG")
            continue
        size = png_size(path)
        if size is None:
            problems.append(f"{name} is not a PNG file")
        elif size != (width, height):
            problems.append(f"{name} must be {width}x{height} pixels, found {size[0]}x{size[1]}")


def check_app(root: Path) -> list[str]:
    """Problems that would break the app in Zendesk (empty: OK); Zendesk's own validation does the rest."""
    root = Path(root)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        nested = sorted(root.glob("*/manifest.json"))
        where = f" (found {nested[0].relative_to(root).as_posix()}: point --source at that folder)" if nested else ""
        return [f"manifest.json is missing in {root}{where}"]
    problems: list[str] = []
    manifest = _load_json(manifest_path, "manifest.json", problems)
    if manifest is None:
        return problems
    if not isinstance(manifest, dict):
        return ["manifest.json must be a JSON object"]

    for key in ("name", "author", "defaultLocale", "frameworkVersion"):
        if key not in manifest:
            problems.append(f"manifest.json: missing required field {key}")
    version = manifest.get("frameworkVersion")
    if version is not None and version != FRAMEWORK_VERSION:
        problems.append(f'manifest.json: frameworkVersion must be "{FRAMEWORK_VERSION}", found {version!r}')
    locations = _locations(root, manifest, problems)
    translation = _check_translations(root, manifest.get("defaultLocale"), problems)
    _check_parameter_labels(manifest, translation, problems)
    _check_sidebar_strings(root, problems)
    _check_logos(root, problems)
    _check_icons(root, locations, problems)

    if not problems:
        size = len(zip_bytes(root, package_files(root)))
        if size > MAX_PACKAGE_BYTES:
            problems.append(
                f"the app zip would be {size / 1e6:.1f} MB; Zendesk accepts at most "
                f"{MAX_PACKAGE_BYTES / 1e6:.0f} MB for a private app"
            )
    return problems


# ---- packaging ---------------------------------------------------------------------


def zip_bytes(root: Path, entries: list[str]) -> bytes:
    """A deterministic zip of the entries: sorted, fixed timestamps and permissions."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for entry in sorted(entries):
            info = zipfile.ZipInfo(entry, date_time=FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            archive.writestr(info, (root / entry).read_bytes(), compresslevel=9)
    return buffer.getvalue()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "app"


def build_package(root: Path, dist: Path) -> Path:
    """Write dist/<app-name>-<version>.zip; raise AppPackageError if the app has problems."""
    root = Path(root)
    problems = check_app(root)
    if problems:
        raise AppPackageError(problems)
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    version = re.sub(r"[^A-Za-z0-9.+-]", "-", str(manifest.get("version", "0.0.0")))
    target = Path(dist) / f"{_slug(manifest['name'])}-{version}.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(zip_bytes(root, package_files(root)))
    return target


def main(argv: list[str] | None = None) -> int:
    """`escalations package-app`: print the problems and exit 1, or print the zip path."""
    parser = argparse.ArgumentParser(
        prog="escalations package-app",
        description="Check the Zendesk sidebar app and build the zip to upload in Admin Center.",
    )
    parser.add_argument("--source", type=Path, default=Path("."), help="the app folder (default: current directory)")
    parser.add_argument("--dist", type=Path, default=None, help="where to write the zip (default: SOURCE/dist)")
    args = parser.parse_args(argv)
    dist = args.dist if args.dist is not None else args.source / "dist"
    try:
        path = build_package(args.source, dist)
    except AppPackageError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
