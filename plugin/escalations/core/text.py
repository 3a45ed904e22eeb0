"""Reading a customer's comment: the escalation phrase, quotes, the reason, contact details.

The phrases that ask for an escalation are configurable per locale
(`Phrases`); by default the English phrase "escalation request" serves every
locale, because that is the phrase customers are told. Every configured
phrase counts, whoever writes it: a customer's Zendesk locale says which
language we answer in, not which words they may use. The functions here stay
pure: the phrases are passed in, with the English default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from escalations.core.locales import DEFAULT_LOCALE, fallbacks, normalise

DEFAULT_PHRASE = "escalation request"

# Words that negate a phrase written at most two words after them: "not an
# escalation request", "kein escalation request", "ce n'est pas une …".
_NEGATORS = (
    r"not|no|never|without|nor|(?:is|was|are|do|does|wo)n['’]?t"
    r"|nicht|kein\w*|ohne|niemals"  # de
    r"|pas|sans|jamais|ni"  # fr
    r"|nunca|sin"  # es
    r"|não|nao|nem|sem"  # pt
)

# Scripts written without spaces between words: no word boundary is required there.
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]")
_APOSTROPHES = "'’ʼ"


def _phrase_regex(phrase: str) -> str:
    """Any case, any whitespace between the words, any apostrophe, whole words only."""
    words = [
        "".join(f"[{_APOSTROPHES}]" if char in _APOSTROPHES else re.escape(char) for char in word)
        for word in phrase.split()
    ]
    start = "" if _UNSPACED.match(phrase[0]) else r"(?<!\w)"
    end = "" if _UNSPACED.match(phrase[-1]) else r"(?!\w)"
    return start + r"\s+".join(words) + end


def _key(phrase: str) -> str:
    return " ".join(phrase.split()).casefold()


@dataclass(frozen=True)
class Phrases:
    """The phrases that ask for an escalation, by locale; each locale falls back like messages do."""

    by_locale: tuple[tuple[str, tuple[str, ...]], ...] = ((DEFAULT_LOCALE, (DEFAULT_PHRASE,)),)

    @classmethod
    def of(cls, by_locale: Mapping[str, Iterable[str]]) -> Phrases:
        """Phrases from {locale: phrases}; English keeps the default phrase unless configured."""
        collected: dict[str, list[str]] = {}
        for locale, phrases in by_locale.items():
            tag = normalise(locale)
            kept = collected.setdefault(tag, [])
            for phrase in phrases:
                text = " ".join(phrase.split())
                if len(text.replace(" ", "")) < 2 or not re.search(r"\w", text):
                    raise ValueError(f"{phrase!r} is not a phrase customers can write")
                if _key(text) not in {_key(known) for known in kept}:
                    kept.append(text)
        collected.setdefault(DEFAULT_LOCALE, [DEFAULT_PHRASE])
        ordered = sorted(collected.items(), key=lambda item: (item[0] != DEFAULT_LOCALE, item[0]))
        return cls(tuple((locale, tuple(phrases)) for locale, phrases in ordered if phrases))

    @cached_property
    def all(self) -> tuple[str, ...]:
        """Every phrase once, English first: the ones that count and that the trigger listens for."""
        seen: dict[str, str] = {}
        for _, phrases in self.by_locale:
            for phrase in phrases:
                seen.setdefault(_key(phrase), phrase)
        return tuple(seen.values())

    def for_locale(self, locale: str | None) -> tuple[str, ...]:
        """The phrases customers in this locale are told, with the usual fallbacks."""
        configured = dict(self.by_locale)
        for tag in fallbacks(locale, configured):
            if tag in configured:
                return configured[tag]
        return (DEFAULT_PHRASE,)

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        """Matches any of the phrases, longest first."""
        alternatives = sorted(self.all, key=len, reverse=True)
        return re.compile("|".join(f"(?:{_phrase_regex(phrase)})" for phrase in alternatives), re.IGNORECASE)

    @cached_property
    def negation(self) -> re.Pattern[str]:
        """A negating word at most two words before one of the phrases."""
        return re.compile(
            rf"(?<!\w)(?:{_NEGATORS})(?!\w)(?:\W+\w+){{0,2}}?\W+(?:{self.pattern.pattern})",
            re.IGNORECASE,
        )


DEFAULT_PHRASES = Phrases()
PHRASE = DEFAULT_PHRASES.pattern

# Where an email client starts quoting the previous message.
_REPLY_SEPARATORS = (
    re.compile(r"^\s*On\b.{0,200}\bwrote:\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}", re.IGNORECASE),
    re.compile(r"^\s*#*\s*-?\s*Please type your reply above this line", re.IGNORECASE),
    re.compile(r"^\s*_{10,}\s*$"),
    re.compile(r"^\s*From:\s.+$"),
)

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w+])\+?\d[\d\s().-]{6,}\d(?!\w)")

# Words that carry no reason on their own: "Hi, escalation request. Thanks!",
# also in the languages the messages are shipped in.
_FILLER_WORDS = (
    "hi hello hey dear team support please pls thanks thank thx you regards best kind cheers sincerely",
    "i we am is this a an the for my our here",
    "hallo guten tag bitte danke vielen dank grüße gruß freundlichen mit ich wir ist das ein eine",
    "bonjour salut merci svp stp cordialement je nous c est une un le la",
    "hola buenos días gracias por favor saludos atentamente yo es una el",
    "olá ola oi bom dia obrigado obrigada favor att atenciosamente eu nós é um uma o",
    "こんにちは です ます お願いします お願いいたします よろしくお願いします よろしくお願いいたします",
    "宜しくお願いします 宜しくお願いいたします いつもお世話になっております お世話になっております",
)
_FILLER = frozenset(word for line in _FILLER_WORDS for word in line.split())

REASON_LIMIT = 4000

# The Help Center form (plugin/escalations/admin/help_center/escalation-request.js) writes the customer's comment in the
# language of the page: new contact details under this label, and a last line naming the language,
# from which the service knows which language to answer in. The script's texts and these must match;
# a test reads the script's comments back with them.
FORM_CONTACT_LABELS: Mapping[str, str] = {
    "en": "New contact details",
    "de": "Neue Kontaktdaten",
    "fr": "Nouvelles coordonnées",
    "es": "Nuevos datos de contacto",
    "pt-BR": "Novos dados de contato",
    "ja": "新しい連絡先",
}
FORM_LANGUAGE_LINES: Mapping[str, str] = {
    "en": "(Sent from the Help Center in English)",
    "de": "(Über das Hilfe-Center auf Deutsch gesendet)",
    "fr": "(Envoyé depuis le centre d’aide en français)",
    "es": "(Enviado desde el centro de ayuda en español)",
    "pt-BR": "(Enviado pela central de ajuda em português)",
    "ja": "（ヘルプセンターから日本語で送信）",
}
_FORM_LOCALES = {line.casefold(): locale for locale, line in FORM_LANGUAGE_LINES.items()}
_CONTACT_LINE = re.compile(
    r"^[ \t]*(?:" + "|".join(re.escape(label) for label in FORM_CONTACT_LABELS.values()) + r")[ \t]*[:：][^\n]*\n?",
    re.MULTILINE | re.IGNORECASE,
)


def own_words(body: str) -> str:
    """The part of a comment its author wrote: no quoted lines, nothing below a reply separator."""
    kept: list[str] = []
    for line in body.splitlines():
        if any(separator.match(line) for separator in _REPLY_SEPARATORS):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def form_locale(body: str) -> str | None:
    """The Help Center page's language when the comment was written with the form there, else None."""
    for line in own_words(body).splitlines():
        found = _FORM_LOCALES.get(line.strip().casefold())
        if found is not None:
            return found
    return None


def _without_form_language(words: str) -> str:
    return "\n".join(line for line in words.splitlines() if line.strip().casefold() not in _FORM_LOCALES)


def without_contact_line(reason: str) -> str:
    """A reason without the form's line of new contact details, which readers are shown once, apart."""
    return re.sub(r"\n{3,}", "\n\n", _CONTACT_LINE.sub("", reason)).strip()


def asks_for_escalation(body: str, phrases: Phrases = DEFAULT_PHRASES) -> bool:
    """True when the author's own words contain one of the phrases, not merely negated."""
    words = own_words(body)
    mentions = len(phrases.pattern.findall(words))
    negated = len(phrases.negation.findall(words))
    return mentions > negated


def reason_for_escalation(body: str, phrases: Phrases = DEFAULT_PHRASES) -> str:
    """The reason the customer gave: their own words without the phrase (and the form's language line); ''
    when none."""
    words = phrases.pattern.sub(" ", _without_form_language(own_words(body)))
    meaningful = [word for word in re.findall(r"\w+", words.lower()) if word not in _FILLER]
    if not meaningful:
        return ""
    reason = re.sub(r"^[\s:;,.\-–—!]+", "", words.strip())
    reason = re.sub(r"[ \t]+", " ", reason)
    if len(reason) > REASON_LIMIT:
        reason = reason[: REASON_LIMIT - 1].rstrip() + "…"
    return reason


def contact_details(body: str, known: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Email addresses and phone numbers in the author's words that are not already known."""
    words = own_words(body)
    found: list[str] = []
    for email in _EMAIL.findall(words):
        if email.lower() not in known and email not in found:
            found.append(email)
    for phone in _PHONE.findall(words):
        digits = re.sub(r"\D", "", phone)
        if 7 <= len(digits) <= 15 and phone.strip() not in found and digits not in known:
            found.append(phone.strip())
    return tuple(found)
