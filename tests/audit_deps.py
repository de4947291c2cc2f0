"""`make audit` (part of `make test`): pip-audit over the packages installed in .venv.

Known vulnerabilities fail the build, one line each. When the vulnerability service cannot be reached
(no network, or a PyPI mirror without the JSON API), one clear line says that nothing was audited and
the build goes on: an audit that cannot run is reported, not mistaken for a clean one.
Usage: python -m tests.audit_deps [--ignore-vuln ID ...]
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

TIMEOUT_SECONDS = 600
SERVICES = ("pypi", "osv")  # pip-audit's vulnerability services, tried in this order
EXIT_VULNERABLE = 1


@dataclass
class AuditResult:
    """What pip-audit found: vulnerable packages, packages it could not check, packages it checked."""

    vulnerable: list[str] = field(default_factory=list)
    unaudited: list[str] = field(default_factory=list)
    audited: int = 0


def classify(report: dict[str, Any]) -> AuditResult:
    """Sort pip-audit's JSON report (-f json) into vulnerable / unaudited / audited."""
    result = AuditResult()
    for dep in report.get("dependencies", []):
        name = f"{dep.get('name')} {dep.get('version', '')}".strip()
        if "skip_reason" in dep:
            result.unaudited.append(name)
            continue
        result.audited += 1
        for vuln in dep.get("vulns", []):
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed version yet"
            result.vulnerable.append(f"{name}: {vuln.get('id')} (fixed in {fixed})")
    return result


def summary(result: AuditResult, error: str = "") -> tuple[str, int]:
    """The lines to print and the exit code."""
    if result.vulnerable:
        lines = [f"pip-audit: {len(result.vulnerable)} known vulnerabilities:"]
        lines += [f"  {line}" for line in result.vulnerable]
        return "\n".join(lines), EXIT_VULNERABLE
    if result.audited == 0:
        why = error or f"all {len(result.unaudited)} packages were skipped"
        return (
            f"pip-audit: could not reach the vulnerability service ({why}); "
            "dependencies were NOT audited (the build goes on)",
            0,
        )
    line = f"pip-audit: no known vulnerabilities in {result.audited} packages"
    if result.unaudited:
        line += f"; {len(result.unaudited)} could not be checked: {', '.join(result.unaudited)}"
    return line, 0


def run_pip_audit(extra: Sequence[str]) -> tuple[dict[str, Any] | None, str]:
    """pip-audit's JSON report for this interpreter's environment, or None and why it did not run."""
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--skip-editable",
        "--progress-spinner",
        "off",
        "-f",
        "json",
    ]
    try:
        done = subprocess.run(
            [*command, *extra], capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"no answer within {TIMEOUT_SECONDS} s"
    try:
        return json.loads(done.stdout), ""
    except ValueError:
        last = (done.stderr.strip().splitlines() or ["pip-audit failed"])[-1]
        return None, last.split(":")[0][:120]  # the exception's name, e.g. requests...ConnectionError


def main(argv: Sequence[str]) -> int:
    """Run the audit (PyPI's service, else OSV's) and print its outcome; returns the exit code."""
    result, errors = AuditResult(), []
    for service in SERVICES:
        report, error = run_pip_audit(["--vulnerability-service", service, *argv])
        result = classify(report or {})
        if result.audited:
            break
        errors.append(f"{service}: {error or 'every package skipped'}")
    text, code = summary(result, "; ".join(errors) if not result.audited else "")
    print(text)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
