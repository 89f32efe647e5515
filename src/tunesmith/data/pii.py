"""Personal data in training examples: find it, and redact it readably.

Detectors are validated, not just pattern-matched, to keep false positives
(order numbers, SKUs, version strings) out: card numbers must pass the Luhn
checksum, IBANs the ISO 13616 mod-97 check, IP addresses must parse. A
redaction replaces the span with a typed placeholder (``[EMAIL]``,
``[PHONE]``...) so the sentence still reads naturally to the model.

Names need a named-entity model: when spaCy and an English pipeline are
installed, PERSON entities are found too; otherwise name detection is reported
as unavailable, never silently skipped.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

KINDS = ("email", "phone", "credit_card", "iban", "ip_address", "name")
PLACEHOLDER = {k: f"[{k.upper()}]" for k in KINDS}

# One alternation, one pass over the text: the scan is the hot loop of cleaning.
_PATTERN = re.compile(
    r"(?P<email>\b[\w.%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b)"
    r"|(?P<iban>\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b)"
    r"|(?P<card>\b(?:\d[ -]?){12,18}\d\b)"
    r"|(?P<ipv4>\b(?:\d{1,3}\.){3}\d{1,3}\b)"
    r"|(?P<ipv6>(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{1,4})*(?![\w:]))"
    r"|(?P<phone>(?<![\w+])(?:\+?\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4}\b)"
)


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    text: str


def luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


class PIIScanner:
    def __init__(self, kinds: Iterable[str] = KINDS, allow: Iterable[str] = (), allow_domains: Iterable[str] = ()):
        self.kinds = set(kinds)
        self.allow = {a.lower() for a in allow}
        # phone numbers are allowed by their digits, however they are formatted
        self.allow_digits = {re.sub(r"\D", "", a) for a in allow if len(re.sub(r"\D", "", a)) >= 7}
        self.allow_domains = {d.lower().lstrip("@") for d in allow_domains}
        self._ner = _load_ner() if "name" in self.kinds else None

    @property
    def names_available(self) -> bool:
        return self._ner is not None

    def scan(self, text: str) -> list[Finding]:
        found: list[Finding] = []
        for match in _PATTERN.finditer(text):
            kind, value = match.lastgroup, match.group()
            finding = self._check(kind or "", value, match.start(), match.end())
            if finding is not None and finding.kind in self.kinds and not self._allowed(finding):
                found.append(finding)
        if self._ner is not None:
            for ent in self._ner(text).ents:
                if ent.label_ == "PERSON" and ent.text.lower() not in self.allow:
                    found.append(Finding("name", ent.start_char, ent.end_char, ent.text))
        return sorted(found, key=lambda f: f.start)

    def _check(self, group: str, value: str, start: int, end: int) -> Finding | None:
        if group == "email":
            return Finding("email", start, end, value)
        if group == "card":
            digits = re.sub(r"\D", "", value)
            return Finding("credit_card", start, end, value) if 13 <= len(digits) <= 19 and luhn_ok(digits) else None
        if group == "iban":
            return Finding("iban", start, end, value) if iban_ok(value) else None
        if group in ("ipv4", "ipv6"):
            try:
                ipaddress.ip_address(value)
            except ValueError:
                return None
            return Finding("ip_address", start, end, value)
        if group == "phone":
            digits = re.sub(r"\D", "", value)
            return Finding("phone", start, end, value) if 7 <= len(digits) <= 15 else None
        return None

    def _allowed(self, finding: Finding) -> bool:
        value = finding.text.lower()
        if value in self.allow:
            return True
        if finding.kind == "phone":
            digits = re.sub(r"\D", "", value)
            return any(a.endswith(digits) or digits.endswith(a) for a in self.allow_digits)
        return finding.kind == "email" and value.rsplit("@", 1)[-1] in self.allow_domains


def redact(text: str, findings: list[Finding]) -> str:
    out, last = [], 0
    for f in findings:
        if f.start < last:  # overlapping detections: the first one wins
            continue
        out.append(text[last : f.start])
        out.append(PLACEHOLDER[f.kind])
        last = f.end
    out.append(text[last:])
    return "".join(out)


def summarize(findings: Iterable[Finding]) -> dict[str, int]:
    return dict(Counter(f.kind for f in findings))


def _load_ner():  # type: ignore[no-untyped-def]
    try:
        import spacy
    except ImportError:
        return None
    for name in ("en_core_web_sm", "en_core_web_md", "en_core_web_lg", "en_core_web_trf"):
        try:
            return spacy.load(name, disable=["parser", "lemmatizer", "tagger", "attribute_ruler"])
        except OSError:
            continue
    return None
