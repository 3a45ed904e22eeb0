"""Reading a customer's comment: the escalation phrase, quotes, the reason, contact details."""

from __future__ import annotations

import re

PHRASE = re.compile(r"\bescalation\s+request\b", re.IGNORECASE)

# "not an escalation request", "no escalation request needed", "isn't really an
# escalation request": a negating word at most two words before the phrase.
_NEGATION = re.compile(
    r"\b(?:not|no|never|without|isn'?t|wasn'?t|aren'?t|don'?t|doesn'?t|won'?t|nor)\b"
    r"(?:\W+\w+){0,2}?\W+escalation\s+request\b",
    re.IGNORECASE,
)

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

# Words that carry no reason on their own: "Hi, escalation request. Thanks!"
_FILLER = frozenset(
    [
        "hi",
        "hello",
        "hey",
        "dear",
        "team",
        "support",
        "please",
        "pls",
        "thanks",
        "thank",
        "thx",
        "you",
        "regards",
        "best",
        "kind",
        "cheers",
        "sincerely",
        "i",
        "we",
        "am",
        "is",
        "this",
        "a",
        "an",
        "the",
        "for",
        "my",
        "our",
        "here",
    ]
)

REASON_LIMIT = 4000


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


def asks_for_escalation(body: str) -> bool:
    """True when the author's own words contain the phrase, not merely negated."""
    words = own_words(body)
    mentions = len(PHRASE.findall(words))
    negated = len(_NEGATION.findall(words))
    return mentions > negated


def reason_for_escalation(body: str) -> str:
    """The reason the customer gave: their own words without the phrase; '' when none."""
    words = PHRASE.sub(" ", own_words(body))
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
