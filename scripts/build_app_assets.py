"""Build the sidebar app's generated assets.

    python scripts/build_app_assets.py            # the per-locale UI strings (offline)
    python scripts/build_app_assets.py --vendor   # also refresh the Garden CSS from npm
    python scripts/build_app_assets.py --check    # exit 1 if a committed generated file is stale

Generated and committed:
- assets/i18n/<locale>.json and assets/i18n/dashboard/<locale>.json: the
  "sidebar" and "dashboard" parts of translations/<locale>.json, and
  assets/i18n/locales.json listing the locales. Zendesk serves only assets/ to
  the browser, so the pages' own strings are copied there; translations/ stays
  the single place where they are edited;
- assets/vendor/ (with --vendor): the pinned Zendesk Garden CSS packages
  (garden.css) and the uPlot charting library with its licence, fetched with
  `npm pack` and checked against the registry's integrity hashes, so the
  repository needs no node_modules. assets/vendor/README records each file's
  SHA-256, and --check verifies the committed files against it offline.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (package, version, npm integrity): bump all three together, then run --vendor.
GARDEN_PACKAGES: tuple[tuple[str, str, str], ...] = (
    (
        "@zendeskgarden/css-bedrock",
        "10.0.1",
        "sha512-S1Oo9tkZLzEuzMLICF/0SulSjqNxhs39fcGK0DqAhILTSogcJkVRYgvgAN70bTqlozycNju1TiWTjeEljMdfvg==",
    ),
    (
        "@zendeskgarden/css-buttons",
        "9.0.1",
        "sha512-Jb4MGX9ji7KOSJZCu1/kFKYxuHzElYRfluQjmk3+MqAA/HqYjkbRGfCzaIyZEQS27hV9eatUE0G+3VE4+92cnw==",
    ),
    (
        "@zendeskgarden/css-forms",
        "8.0.1",
        "sha512-tW02XvrMf0xIzMdYxSJg6BeAgAUuuScNtMeNs8GctG/vvz/T7rGddez5mpYA7TJc6AbMz1difhsig7knbnfMxw==",
    ),
    (
        "@zendeskgarden/css-tags",
        "6.0.0",
        "sha512-aYp2i6RfAZ19unCpJRDn7HnqIZcrH/FmbaRiKrzNbNJkZ2kvrkfOMoI9vwbrQ26CmE2c1nLPtzJsq5zEqxiqjw==",
    ),
)

# The dashboard's charts: uPlot (MIT), about 51 kB minified, no dependencies, canvas drawing, styles set
# through the DOM (so the app's content security policy needs no inline styles).
UPLOT = (
    "uplot",
    "1.6.32",
    "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==",
)
# File in the package → file in assets/vendor/. The licence travels with the code into the app zip.
UPLOT_FILES = {
    "package/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
    "package/dist/uPlot.min.css": "uPlot.min.css",
    "package/LICENSE": "uPlot.LICENSE.txt",
}

VENDOR = ROOT / "assets" / "vendor"
DIGEST_LINE = re.compile(r"^- (\S+) sha256 ([0-9a-f]{64})$", re.MULTILINE)

# --- sidebar strings ---------------------------------------------------------


def i18n_files() -> dict[Path, bytes]:
    """assets/i18n/<locale>.json (sidebar) and assets/i18n/dashboard/<locale>.json per translation, and their index."""
    files = {}
    locales = []
    for translation in sorted((ROOT / "translations").glob("*.json")):
        strings = json.loads(translation.read_text(encoding="utf-8"))
        sidebar, dashboard = strings.get("sidebar"), strings.get("dashboard")
        if isinstance(sidebar, dict):
            files[ROOT / "assets" / "i18n" / translation.name] = _json_bytes(sidebar)
            locales.append(translation.stem)
        if isinstance(dashboard, dict):
            files[ROOT / "assets" / "i18n" / "dashboard" / translation.name] = _json_bytes(dashboard)
    default = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))["defaultLocale"]
    index = {"default": default, "locales": sorted(locales)}
    files[ROOT / "assets" / "i18n" / "locales.json"] = _json_bytes(index)
    return files


def _json_bytes(value: object) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def stale_i18n_files(expected: dict[Path, bytes]) -> list[Path]:
    found = set((ROOT / "assets" / "i18n").glob("*.json")) | set((ROOT / "assets" / "i18n").glob("dashboard/*.json"))
    return sorted(found - set(expected))


# --- Garden CSS ----------------------------------------------------------------


def _npm_pack(package: str, version: str, integrity: str, into: Path) -> tarfile.TarFile:
    result = subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--json", "--pack-destination", str(into)],
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(result.stdout)[0]
    tarball = into / info["filename"]
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if f"sha512-{digest}" != integrity:
        raise SystemExit(f"{package}@{version}: tarball does not match the pinned integrity hash")
    return tarfile.open(tarball)


def vendor_files() -> dict[Path, bytes]:
    """assets/vendor/: Garden's dist CSS concatenated, uPlot's files, and a README with licences and digests."""
    files: dict[Path, bytes] = {}
    sections = []
    licences = []
    with tempfile.TemporaryDirectory() as scratch:
        for package, version, integrity in GARDEN_PACKAGES:
            with _npm_pack(package, version, integrity, Path(scratch)) as archive:
                meta = json.load(archive.extractfile("package/package.json"))  # type: ignore[arg-type]
                css = archive.extractfile("package/dist/index.css").read().decode("utf-8")  # type: ignore[union-attr]
            sections.append(f"/* ---- {package} {version} ({meta['license']}) ---- */\n{css.strip()}\n")
            licences.append(f"- {package} {version}, licence {meta['license']}, integrity {integrity}")
        files[VENDOR / "garden.css"] = "\n".join(sections).encode("utf-8")
        package, version, integrity = UPLOT
        with _npm_pack(package, version, integrity, Path(scratch)) as archive:
            meta = json.load(archive.extractfile("package/package.json"))  # type: ignore[arg-type]
            for member, name in UPLOT_FILES.items():
                files[VENDOR / name] = archive.extractfile(member).read()  # type: ignore[union-attr]
        uplot_licence = f"- {package} {version}, licence {meta['license']}, integrity {integrity}"
    digests = [f"- {path.name} sha256 {hashlib.sha256(data).hexdigest()}" for path, data in sorted(files.items())]
    readme = "\n".join(
        [
            "Libraries vendored for the app (no CDN at runtime).",
            "",
            "garden.css is the concatenation of each Zendesk Garden package's dist/index.css, unchanged:",
            *licences,
            "",
            "Copyright Zendesk, Inc. Licensed under the Apache License, Version 2.0",
            "(http://www.apache.org/licenses/LICENSE-2.0); each section keeps its licence header.",
            "css-bedrock's dist includes modern-normalize (MIT licence, Copyright Sindre Sorhus).",
            "",
            "uPlot.iife.min.js and uPlot.min.css are uPlot's dist files, unchanged; its licence",
            "is uPlot.LICENSE.txt (MIT, Copyright Leon Sorokin), packaged with them:",
            uplot_licence,
            "",
            "SHA-256 of each file as vendored (python scripts/build_app_assets.py --check verifies them):",
            *digests,
            "",
            "Regenerate with: python scripts/build_app_assets.py --vendor (needs npm).",
            "This README is not packaged into the app zip.",
            "",
        ]
    )
    files[VENDOR / "README"] = readme.encode("utf-8")
    return files


def altered_vendor_files() -> list[str]:
    """Vendored files that are missing or differ from the digests recorded in assets/vendor/README."""
    readme = VENDOR / "README"
    recorded = DIGEST_LINE.findall(readme.read_text(encoding="utf-8")) if readme.is_file() else []
    if not recorded:
        return ["assets/vendor/README records no digests"]
    altered = []
    for name, digest in recorded:
        path = VENDOR / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            altered.append(f"assets/vendor/{name}")
    return altered


# --- command -------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vendor", action="store_true", help="also refresh assets/vendor/ from npm")
    parser.add_argument("--check", action="store_true", help="only report stale generated files")
    args = parser.parse_args(argv)

    expected = i18n_files()
    if args.vendor:
        expected.update(vendor_files())
    leftovers = stale_i18n_files(expected)

    if args.check:
        stale = [path for path, data in expected.items() if not path.exists() or path.read_bytes() != data]
        for path in [*stale, *leftovers]:
            print(f"stale: {path.relative_to(ROOT)}")
        altered = altered_vendor_files()
        for name in altered:
            print(f"altered: {name} (not what was vendored)")
        if stale or leftovers:
            print("run: python scripts/build_app_assets.py")
        if altered:
            print("run: python scripts/build_app_assets.py --vendor")
        return 1 if stale or leftovers or altered else 0

    for path, data in expected.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            print(f"wrote {path.relative_to(ROOT)}")
    for path in leftovers:
        path.unlink()
        print(f"removed {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
