from __future__ import annotations

import pytest

from tunesmith.data.pii import PIIScanner, iban_ok, luhn_ok, redact


@pytest.fixture(scope="module")
def scanner() -> PIIScanner:
    return PIIScanner(kinds=["email", "phone", "credit_card", "iban", "ip_address"])


def kinds(scanner: PIIScanner, text: str) -> list[str]:
    return [f.kind for f in scanner.scan(text)]


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82 WEST 1234 5698 7654 33")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me at jane.doe+tag@example.co.uk today", ["email"]),
        ("call (555) 123-4567 or +44 20 7946 0958", ["phone", "phone"]),
        ("card 4111 1111 1111 1111 expires soon", ["credit_card"]),
        ("card 4111 1111 1111 1112 is not valid", []),
        ("IBAN DE89 3704 0044 0532 0130 00 please", ["iban"]),
        ("server 192.168.10.4 and 2001:db8::8a2e:370:7334", ["ip_address", "ip_address"]),
        ("version 1.2.3.4000 is not an address", []),
        ("order NW12345678 shipped", []),
    ],
)
def test_detectors(scanner: PIIScanner, text: str, expected: list[str]) -> None:
    assert kinds(scanner, text) == expected


def test_redaction_reads_naturally(scanner: PIIScanner) -> None:
    text = "Reach Jane at jane@example.com or 555-123-4567."
    assert redact(text, scanner.scan(text)) == "Reach Jane at [EMAIL] or [PHONE]."


def test_allow_lists() -> None:
    scanner = PIIScanner(kinds=["email", "phone"], allow=["1-800-555-0142"], allow_domains=["acme.com"])
    text = "Write help@acme.com or call 1-800-555-0142; my own is bob@gmail.com and (800) 555-0142."
    assert [f.text for f in scanner.scan(text)] == ["bob@gmail.com"]
