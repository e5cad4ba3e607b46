"""A pytest plugin that names the groups of tests skipped for a missing system tool, says how to enable them, and
fails a CI run (CI=true) that skipped any of them, so CI never drops them silently."""

from __future__ import annotations

import os

import pytest

# group -> (words that identify its skip reasons, how to enable it)
GROUPS: dict[str, tuple[tuple[str, ...], str]] = {
    "browser": (("chromium", "playwright"), "apt-get install chromium (Playwright drives Debian's Chromium)"),
    "DICOM validator": (("dciodvfy", "dicom3tools"), "apt-get install dicom3tools"),
    "compose": (("docker-compose",), "apt-get install docker-compose"),
    "PACS": (("orthanc",), "apt-get install orthanc orthanc-dicomweb (the real Orthanc PACS the DICOM tests store "
             "into and push to over DICOMweb)"),
}
_skipped: dict[str, list[str]] = {}


def group_of(reason: str) -> str | None:
    lowered = reason.lower()
    return next((g for g, (words, _) in GROUPS.items() if any(w in lowered for w in words)), None)


def _record(report) -> None:
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return
    group = group_of(str(report.longrepr[2]))
    if group:
        _skipped.setdefault(group, []).append(report.nodeid)


def pytest_runtest_logreport(report) -> None:
    _record(report)


def pytest_collectreport(report) -> None:
    _record(report)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus) -> None:
    if _skipped and os.environ.get("CI") == "true" and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if not _skipped:
        return
    terminalreporter.section("skipped groups")
    for group, ids in _skipped.items():
        terminalreporter.write_line(f"{group}: {len(ids)} test(s) skipped; to run them: {GROUPS[group][1]}")
    if os.environ.get("CI") == "true":
        terminalreporter.write_line("CI=true: a skipped browser, DICOM-validator, compose or PACS test fails the run",
                                    red=True)
