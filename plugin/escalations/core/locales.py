"""Zendesk locale tags: reading them, and which available locale serves a reader best.

Zendesk gives every user a `locale` such as `en-US`, `de`, `pt-BR` or
`es-419`, not always in the same letter case. A reader is served the exact
locale when it is available, else its language alone (`pt-BR` → `pt`), else
another variant of the same language (`pt-PT` → `pt-BR`), else English.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

DEFAULT_LOCALE = "en"

_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def normalise(tag: str) -> str:
    """`pt_br` → `pt-BR`, `ZH-hant-tw` → `zh-Hant-TW`; ValueError when it is not a locale tag."""
    text = tag.strip()
    if not _TAG.match(text):
        raise ValueError(f"{tag!r} is not a locale such as en, de or pt-BR")
    language, *rest = re.split(r"[-_]", text)
    parts = [language.lower()]
    for part in rest:
        if len(part) == 4 and part.isalpha():
            parts.append(part.title())  # script: Hant, Latn
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            parts.append(part.upper())  # region: BR, 419
        else:
            parts.append(part.lower())
    return "-".join(parts)


def language(tag: str) -> str:
    """The language part of a normalised tag: `pt-BR` → `pt`."""
    return tag.split("-", 1)[0]


def fallbacks(reader: str | None, available: Iterable[str], default: str = DEFAULT_LOCALE) -> list[str]:
    """The available locales to try for a reader, best first; the default always comes last."""
    offered = {normalise(tag).lower(): normalise(tag) for tag in available}
    chain: list[str] = []

    def add(tag: str) -> None:
        found = offered.get(tag.lower())
        if found is not None and found not in chain:
            chain.append(found)

    wanted = _parsed(reader)
    if wanted is not None:
        add(wanted)
        add(language(wanted))
        for tag in sorted(offered.values()):
            if language(tag) == language(wanted):
                add(tag)
    add(default)
    if normalise(default) not in chain:
        chain.append(normalise(default))
    return chain


def _parsed(tag: str | None) -> str | None:
    if not tag:
        return None
    try:
        return normalise(tag)
    except ValueError:
        return None
