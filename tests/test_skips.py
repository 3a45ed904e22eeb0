"""A skipped test fails the run on CI, and elsewhere the run ends with one line of what to install."""

from __future__ import annotations

import pytest

from tests.skips import skipped_line

pytest_plugins = ["pytester"]

# A tiny suite skipping as ours do: a fixture for a missing tool, a mark, a skip at collection, and an
# expected failure, which is not a skip.
SUITE = {
    "conftest.py": """
import pytest

from tests.skips import require_tool


@pytest.fixture
def chromium() -> str:
    return require_tool("no-such-chromium", "chromium")


@pytest.fixture
def redis() -> str:
    return require_tool("no-such-redis-server", "redis-server")
""",
    "test_tools.py": """
import pytest


def test_runs() -> None:
    pass


def test_in_a_browser(chromium: str) -> None:
    pass


def test_in_another_browser(chromium: str) -> None:
    pass


def test_with_redis(redis: str) -> None:
    pass


@pytest.mark.skipif(True, reason="needs the project's git repository")
def test_from_a_clone() -> None:
    pass


@pytest.mark.xfail(reason="known", strict=True)
def test_known_to_fail() -> None:
    raise AssertionError
""",
    "test_collection.py": """
import pytest

pytest.skip("prometheus is not installed (apt-get install prometheus)", allow_module_level=True)


def test_alert_rules() -> None:
    pass
""",
}


# This session imported the plugin already: the inner runs cannot rewrite its asserts (it has none).
QUIET = ("-W", "ignore::pytest.PytestAssertRewriteWarning")


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(**SUITE)
    return pytester


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_on_ci_every_skip_fails_the_run_whatever_skipped_it(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)

    result = suite.runpytest("-p", "tests.skips", "--continue-on-collection-errors", *QUIET)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    outcomes = result.parseoutcomes()
    assert (outcomes.get("passed"), outcomes.get("skipped"), outcomes.get("xfailed")) == (1, None, 1)
    assert outcomes["errors"] == 5  # four tests at their setup, one module at its collection
    result.stdout.fnmatch_lines(
        [
            "*skipped on CI, where every test must run*no-such-chromium is not installed (apt-get install chromium)",
            "*skipped on CI, where every test must run*needs the project's git repository",
            "*skipped on CI, where every test must run*prometheus is not installed (apt-get install prometheus)",
        ],
        consecutive=False,
    )
    assert "tests skipped" not in result.stdout.str()


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_elsewhere_the_run_ends_with_one_line_of_what_to_install(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)

    result = suite.runpytest("-p", "tests.skips", *QUIET)

    assert result.ret == pytest.ExitCode.OK
    assert result.parseoutcomes() == {"passed": 1, "skipped": 5, "xfailed": 1}
    assert result.stdout.lines[-1] == (
        "5 tests skipped: install chromium, prometheus, redis-server"
        " (apt-get install chromium prometheus redis-server); needs the project's git repository (1)"
    )


def test_nothing_skipped_adds_no_line(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(test_one="def test_runs() -> None:\n    pass\n")

    result = pytester.runpytest("-p", "tests.skips", *QUIET)

    assert result.ret == pytest.ExitCode.OK
    assert result.stdout.lines[-1].startswith("=") and "1 passed in" in result.stdout.lines[-1]


def test_the_line_names_each_package_once_in_order_and_speaks_of_one_test_as_one() -> None:
    assert skipped_line(["chromium is not installed (apt-get install chromium)"]) == (
        "1 test skipped: install chromium (apt-get install chromium)"
    )
    assert skipped_line(["needs git"] * 2) == "2 tests skipped: needs git"
    assert skipped_line(
        ["a (apt-get install redis-server)", "b (apt-get install redis-server)", "c (apt-get install chromium)"]
    ) == ("3 tests skipped: install chromium, redis-server (apt-get install chromium redis-server)")
