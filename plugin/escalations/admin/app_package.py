"""Check and package the Zendesk sidebar app (manifest.json, translations/, assets/).

Zendesk validates an uploaded app on its servers (the rules live in its
open-source zendesk_apps_support library), and `zcli apps:validate` needs a
Zendesk account, so this module checks the same rules offline and builds the
zip that Admin Center accepts:

    escalations package-app [--source DIR] [--dist DIR]

The app lives at the top of the repository beside the Python project. Only
manifest.json, requirements.json (if any), translations/*.json and the runtime
files under assets/ are packaged; the project's other files are not part of
the app and are ignored, except files that look like app files left outside
assets/, which are reported because Zendesk would never serve them.
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

# Hosts and the locations each offers (zendesk_apps_support Location / Product).
LOCATIONS: dict[str, frozenset[str]] = {
    "support": frozenset(
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
    ),
    "chat": frozenset({"chat_sidebar", "background"}),
    "standalone_chat": frozenset({"nav_bar", "system_top_bar"}),
    "sell": frozenset(
        {
            "deal_card",
            "person_card",
            "company_card",
            "lead_card",
            "background",
            "modal",
            "dashboard",
            "note_editor",
            "call_log_editor",
            "email_editor",
            "top_bar",
            "visit_editor",
        }
    ),
}

# Locations opened by clicking an icon (zendesk_apps_support Package::LOCATIONS_WITH_ICONS_PER_PRODUCT). Zendesk
# looks for assets/icon_<location>.svg (assets/<host>/… in a multi-product app), draws it 18x18 and colours it with
# the account's brand colours; without one the agent gets a placeholder.
ICON_LOCATIONS: dict[str, frozenset[str]] = {
    "support": frozenset({"top_bar", "nav_bar", "system_top_bar", "ticket_editor"}),
    "sell": frozenset({"top_bar"}),
}
SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
# Markup Zendesk's sanitiser (Loofah) removes from an SVG, rewriting the file with a warning.
SVG_STRIPPED_ELEMENTS = frozenset({"script", "foreignObject", "iframe", "object", "embed"})
# Colours an icon may name itself: anything else stops Zendesk from painting it in the account's colours.
ICON_PAINTS = frozenset({"none", "currentcolor", "inherit"})

PARAMETER_TYPES = frozenset({"text", "password", "checkbox", "url", "number", "multiline", "hidden", "oauth"})
# Zendesk warns when a parameter named like a credential is not secure; here it is an error.
SECRET_NAME = re.compile(r"token|key|pwd|password|secret", re.IGNORECASE)
MANIFEST_BOOLEANS = ("private", "singleInstall", "signedUrls", "requirementsOnly", "marketingOnly")
REQUIRED_APP_TEXTS = ("name", "short_description", "long_description", "installation_instructions")
LOCALE = re.compile(r"^[a-z]{2}(-\w{2,3})?$")
LOGOS = {"assets/logo.png": (320, 320), "assets/logo-small.png": (128, 128)}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# "The file size limit of the zip file for a private app is 2 MB."
MAX_PACKAGE_BYTES = 2_000_000

# File types Zendesk refuses inside an app (zendesk_apps_support Validations::Mime).
REFUSED_SUFFIXES = frozenset(
    {
        ".rar",
        ".zip",
        ".gz",
        ".gzip",
        ".pdf",
        ".doc",
        ".docx",
        ".avi",
        ".bin",
        ".bz",
        ".bz2",
        ".csh",
        ".sh",
        ".jar",
        ".mp3",
        ".mpeg",
        ".odt",
        ".pptx",
        ".ppt",
        ".xls",
        ".xlsx",
        ".7z",
    }
)
# Files that look like part of the app but sit outside assets/, where Zendesk never serves them.
APP_LIKE_SUFFIXES = frozenset(
    {".html", ".htm", ".js", ".mjs", ".css", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".hdbs", ".woff", ".woff2"}
)
PROJECT_JSON_FILES = frozenset({"package.json", "package-lock.json", "tsconfig.json", "jsconfig.json"})

FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class AppPackageError(Exception):
    """The app has problems that Zendesk would reject."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# ---- reading -------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _load_json(path: Path, label: str, problems: list[str]) -> Any:
    """Parsed JSON, or None after recording why it could not be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicates)
    except _DuplicateKey as duplicate:
        problems.append(f"{label} has the key {str(duplicate)!r} twice")
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


def _check_author(manifest: dict[str, Any], problems: list[str]) -> None:
    author = manifest.get("author")
    if author is None:
        return
    if not isinstance(author, dict):
        problems.append("manifest.json: author must be an object with name, email and url")
        return
    for key in ("name", "email"):
        if not isinstance(author.get(key), str) or not author[key].strip():
            problems.append(f"manifest.json: missing required field author.{key}")
    url = author.get("url")
    if url is not None and not (isinstance(url, str) and re.match(r"^https?://[^\s/]+", url)):
        problems.append(f"manifest.json: author.url must be an http(s) URL, got {url!r}")


def _check_types(manifest: dict[str, Any], problems: list[str]) -> None:
    for key in ("name", "defaultLocale", "version", "frameworkVersion"):
        if key in manifest and not isinstance(manifest[key], str):
            problems.append(f"manifest.json: {key} must be a string, got {manifest[key]!r}")
    for key in MANIFEST_BOOLEANS:
        if key in manifest and not isinstance(manifest[key], bool):
            problems.append(f"manifest.json: {key} must be true or false, got {manifest[key]!r}")
    whitelist = manifest.get("domainWhitelist")
    if whitelist is not None and not (isinstance(whitelist, list) and all(isinstance(d, str) for d in whitelist)):
        problems.append("manifest.json: domainWhitelist must be a list of domain names")


def _check_location_url(root: Path, where: str, url: Any, problems: list[str]) -> None:
    if not isinstance(url, str) or not url.strip():
        problems.append(f"manifest.json: {where} does not specify a URL")
        return
    if "{{setting." in url:
        return
    if re.match(r"^[a-z][a-z0-9+.-]*://", url, re.IGNORECASE):
        if not (url.lower().startswith("https://") or re.match(r"^http://localhost(:\d+)?(/|$)", url)):
            problems.append(f"manifest.json: {where} URL {url} must use https")
        return
    path = re.split(r"[?#]", url, maxsplit=1)[0]
    if not path.startswith("assets/"):
        problems.append(f"manifest.json: {where} URL {url} must point to a file under assets/ or be an https URL")
    elif not (root / path).is_file():
        problems.append(f"manifest.json: {where} points to {path}, which does not exist")


def _check_location(root: Path, manifest: dict[str, Any], problems: list[str]) -> None:
    location = manifest.get("location")
    if location is None:
        if not manifest.get("requirementsOnly"):
            problems.append("manifest.json: missing required field location")
        return
    if not isinstance(location, dict) or not location:
        problems.append(
            "manifest.json: location must map a host to its locations and URLs, "
            'e.g. {"support": {"ticket_sidebar": {"url": "assets/iframe.html"}}}'
        )
        return
    for host, places in location.items():
        if host not in LOCATIONS:
            problems.append(
                f"manifest.json: {host!r} is not a Zendesk app host (hosts: {', '.join(sorted(LOCATIONS))})"
            )
            continue
        if not isinstance(places, dict) or not places:
            problems.append(f"manifest.json: location.{host} must map locations to URLs")
            continue
        for place, options in places.items():
            where = f"location.{host}.{place}"
            if place not in LOCATIONS[host]:
                known = ", ".join(sorted(LOCATIONS[host]))
                problems.append(f"manifest.json: {place!r} is not a location in {host} (locations: {known})")
                continue
            if isinstance(options, dict):
                if "flexible" in options and not isinstance(options["flexible"], bool):
                    problems.append(f"manifest.json: {where}.flexible must be true or false")
                if options.get("autoLoad") is False and not options.get("url"):
                    continue
                _check_location_url(root, where, options.get("url"), problems)
            else:
                _check_location_url(root, where, options, problems)


def _check_parameters(manifest: dict[str, Any], translation: dict[str, Any] | None, problems: list[str]) -> None:
    parameters = manifest.get("parameters")
    if parameters is None:
        return
    if not isinstance(parameters, list):
        problems.append("manifest.json: parameters must be a list")
        return
    names: list[str] = []
    oauth = 0
    labels = _dig(translation, "app", "parameters") if translation is not None else None
    for index, parameter in enumerate(parameters):
        if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str) or not parameter["name"]:
            problems.append(f"manifest.json: parameter #{index + 1} needs a name")
            continue
        name = parameter["name"]
        names.append(name)
        kind = parameter.get("type", "text")
        if name == "name":
            problems.append("manifest.json: a parameter may not be called 'name'")
        if kind not in PARAMETER_TYPES:
            valid = ", ".join(sorted(PARAMETER_TYPES))
            problems.append(f"manifest.json: parameter {name!r} has type {kind!r}; valid types: {valid}")
        for flag in ("required", "secure"):
            if flag in parameter and not isinstance(parameter[flag], bool):
                problems.append(f"manifest.json: parameter {name!r}: {flag} must be true or false")
        if "default" in parameter and not _default_fits(kind, parameter["default"]):
            problems.append(
                f"manifest.json: parameter {name!r} of type {kind!r} has a default of the wrong kind: "
                f"{parameter['default']!r}"
            )
        if kind == "hidden" and parameter.get("required") is True:
            problems.append(f"manifest.json: parameter {name!r} is hidden and cannot be required")
        if kind == "oauth":
            oauth += 1
            if parameter.get("secure") is True:
                problems.append(f"manifest.json: oauth parameter {name!r} cannot be secure")
        if SECRET_NAME.search(name) and kind in ("text", "password") and parameter.get("secure") is not True:
            problems.append(
                f'manifest.json: parameter {name!r} looks like a secret: set "secure": true '
                "so its value never reaches the browser"
            )
        label = _dig(labels, name, "label") if isinstance(labels, dict) else None
        if translation is not None and not (isinstance(label, str) and label.strip()):
            problems.append(
                f"translations/{manifest.get('defaultLocale')}.json: missing app.parameters.{name}.label "
                f"for the parameter {name!r}"
            )
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"manifest.json: duplicate parameter names: {', '.join(duplicates)}")
    if oauth > 1:
        problems.append("manifest.json: only one parameter may have type 'oauth'")


def _default_fits(kind: str, default: Any) -> bool:
    """Whether a parameter's default is what Zendesk's settings form holds for its type."""
    if kind == "checkbox":
        return isinstance(default, bool)
    if kind == "number":
        return isinstance(default, int | float) and not isinstance(default, bool)
    return isinstance(default, str)


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
    """Check translations/; return the default locale's translation if it is usable."""
    folder = root / "translations"
    default: dict[str, Any] | None = None
    entries = sorted(folder.iterdir()) if folder.is_dir() else []
    for path in entries:
        label = f"translations/{path.name}"
        if not path.is_file() or path.suffix != ".json":
            problems.append(f"{label}: translations/ may only hold <locale>.json files")
            continue
        if not LOCALE.match(path.stem):
            problems.append(f"{label}: {path.stem!r} is not a valid locale (use e.g. en, pt-BR)")
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

    if isinstance(default_locale, str) and LOCALE.match(default_locale):
        wanted = f"translations/{default_locale}.json"
        if not (root / wanted).is_file():
            problems.append(f"{wanted} is missing: the default locale {default_locale!r} needs a translation file")
        elif default is not None:
            app = default.get("app")
            for key in REQUIRED_APP_TEXTS:
                value = app.get(key) if isinstance(app, dict) else None
                if not (isinstance(value, str) and value.strip()):
                    problems.append(f"{wanted}: missing app.{key}")
    elif default_locale is not None:
        problems.append(f"manifest.json: defaultLocale {default_locale!r} is not a valid locale (use e.g. en)")
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


def _svg_problems(text: str, entry: str, icon: bool) -> list[str]:
    """What Zendesk would refuse or rewrite in an SVG; icons must also scale and take the account's colours."""
    if re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        return [f"{entry}: remove the DOCTYPE; Zendesk's SVG check accepts plain markup only"]
    try:
        svg = ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        return [f"{entry} is not well-formed SVG markup: {error}"]
    if svg.tag != f"{SVG_NAMESPACE}svg":
        return [f'{entry} must be an <svg> element in the SVG namespace (xmlns="http://www.w3.org/2000/svg")']
    problems: list[str] = []
    elements = list(svg.iter())
    names = {element.tag.removeprefix(SVG_NAMESPACE) for element in elements if isinstance(element.tag, str)}
    if "image" in names:
        problems.append(f"{entry} embeds a bitmap (<image>); Zendesk replaces such an icon with a placeholder")
    for name in sorted(names & SVG_STRIPPED_ELEMENTS):
        problems.append(f"{entry} contains <{name}>, which Zendesk strips from SVG files")
    for element in elements:
        for attribute, value in element.attrib.items():
            local = attribute.rsplit("}", 1)[-1]
            if local.lower().startswith("on"):
                problems.append(f"{entry} has an event handler ({local}), which Zendesk strips from SVG files")
            elif attribute in ("href", XLINK_HREF) and not value.startswith("#"):
                problems.append(f"{entry} links outside itself ({value}); Zendesk strips such links")
            elif icon and local in ("fill", "stroke") and value.strip().lower() not in ICON_PAINTS:
                problems.append(
                    f"{entry}: {local}={value!r} fixes a colour; leave fill and stroke out (or currentColor) "
                    "so that Zendesk paints the icon in the account's colours"
                )
    if icon:
        symbols = [element for element in elements if element.tag == f"{SVG_NAMESPACE}symbol"]
        if symbols:
            if any("viewBox" not in symbol.attrib for symbol in symbols):
                problems.append(f"{entry}: every <symbol> needs a viewBox")
            if not any(symbol.get("id") == "default" for symbol in symbols):
                problems.append(f'{entry}: one <symbol> must have id="default", the icon shown first')
        elif "viewBox" not in svg.attrib:
            problems.append(f"{entry}: the <svg> needs a viewBox so that Zendesk can scale it to 18x18")
    return problems


def _icon_entries(manifest: dict[str, Any]) -> dict[str, str]:
    """The icon file each icon location of the manifest needs, by location."""
    location = manifest.get("location")
    if not isinstance(location, dict):
        return {}
    hosts = [host for host, places in location.items() if host in LOCATIONS and isinstance(places, dict)]
    icons = {}
    for host in hosts:
        folder = f"{host}/" if len(hosts) > 1 else ""
        for place in location[host]:
            if place in ICON_LOCATIONS.get(host, ()):
                icons[f"location.{host}.{place}"] = f"assets/{folder}icon_{place}.svg"
    return icons


def _check_icons(root: Path, manifest: dict[str, Any], problems: list[str]) -> None:
    icons = _icon_entries(manifest)
    for where, entry in icons.items():
        if not (root / entry).is_file():
            problems.append(
                f"{entry} is missing: {where} is opened from an icon, and Zendesk needs it as an SVG "
                "(drawn 18x18 in the account's colours)"
            )
    for entry in package_files(root):
        if entry.lower().endswith(".svg") and (root / entry).is_file():
            try:
                text = (root / entry).read_text(encoding="utf-8")
            except UnicodeDecodeError:
                problems.append(f"{entry} is not UTF-8 text")
                continue
            problems.extend(_svg_problems(text, entry, icon=entry in icons.values()))


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


def _check_layout(root: Path, problems: list[str]) -> None:
    """Report app-looking files outside assets/ and files Zendesk refuses inside it."""
    for path in sorted(root.iterdir()):
        name = path.name
        if name.startswith("."):
            continue
        if path.is_dir() and name == "templates":
            problems.append("templates/ is a framework v1 folder: a v2 app keeps its pages under assets/")
        elif path.is_file() and name not in ("manifest.json", "requirements.json"):
            looks_like_app = path.suffix.lower() in APP_LIKE_SUFFIXES or (
                path.suffix.lower() == ".json" and name not in PROJECT_JSON_FILES
            )
            if looks_like_app:
                problems.append(
                    f"{name} is outside assets/: Zendesk serves only assets/ and this file would not be "
                    "packaged; move it into assets/ (or translations/ for a translation)"
                )
    for entry in package_files(root):
        path = root / entry
        if path.is_symlink():
            problems.append(f"{entry} is a symbolic link; Zendesk refuses symlinks in an app")
        elif path.suffix.lower() in REFUSED_SUFFIXES:
            problems.append(f"{entry}: Zendesk refuses {path.suffix} files in an app")


def check_app(root: Path) -> list[str]:
    """Problems Zendesk's app validation would report for the app in `root` (empty: OK)."""
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
    _check_types(manifest, problems)
    _check_author(manifest, problems)
    version = manifest.get("frameworkVersion")
    if version is not None and version != FRAMEWORK_VERSION:
        problems.append(f'manifest.json: frameworkVersion must be "{FRAMEWORK_VERSION}", found {version!r}')
    _check_location(root, manifest, problems)
    translation = _check_translations(root, manifest.get("defaultLocale"), problems)
    _check_parameters(manifest, translation, problems)
    _check_sidebar_strings(root, problems)
    _check_logos(root, problems)
    _check_icons(root, manifest, problems)
    if (root / "requirements.json").is_file():
        _load_json(root / "requirements.json", "requirements.json", problems)
    _check_layout(root, problems)

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
