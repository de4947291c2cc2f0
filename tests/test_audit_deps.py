"""The dependency audit's verdicts: vulnerabilities fail, an unreachable service is said and passes."""

from __future__ import annotations

from tests.audit_deps import classify, summary

CLEAN = {"name": "pypdf", "version": "7.0.0", "vulns": []}
SKIPPED = {
    "name": "torch",
    "skip_reason": "Dependency not found on PyPI and could not be audited: torch (2.13.0)",
}
VULNERABLE = {
    "name": "aiohttp",
    "version": "3.9.0",
    "vulns": [{"id": "GHSA-xxxx-yyyy-zzzz", "fix_versions": ["3.9.4"], "aliases": ["CVE-2024-0001"]}],
}


def test_a_known_vulnerability_fails_and_names_the_fix() -> None:
    text, code = summary(classify({"dependencies": [CLEAN, VULNERABLE, SKIPPED]}))
    assert code == 1
    assert text.splitlines() == [
        "pip-audit: 1 known vulnerabilities:",
        "  aiohttp 3.9.0: GHSA-xxxx-yyyy-zzzz (fixed in 3.9.4)",
    ]


def test_an_unreachable_service_is_reported_and_does_not_fail() -> None:
    text, code = summary(classify({"dependencies": [SKIPPED, SKIPPED]}))
    assert code == 0
    assert text == (
        "pip-audit: could not reach the vulnerability service (all 2 packages were skipped); "
        "dependencies were NOT audited (the build goes on)"
    )
    text, code = summary(classify({}), "ConnectionError: Name or service not known")
    assert code == 0 and "(ConnectionError: Name or service not known)" in text


def test_a_clean_audit_says_how_much_it_checked() -> None:
    text, code = summary(classify({"dependencies": [CLEAN, CLEAN, SKIPPED]}))
    assert code == 0
    assert text == "pip-audit: no known vulnerabilities in 2 packages; 1 could not be checked: torch"
