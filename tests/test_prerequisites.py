"""A missing prerequisite (PostgreSQL, the ../shared schema) skips on a developer's machine and
fails under CI, where .ci/run installs everything."""

from __future__ import annotations

import pytest

from tests.conftest import missing_prerequisite


def test_a_missing_prerequisite_skips_without_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs initdb"):
        missing_prerequisite("needs initdb")


def test_a_missing_prerequisite_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI is set.*needs initdb"):
        missing_prerequisite("needs initdb")
