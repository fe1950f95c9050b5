"""The reference comparison fails loudly, not silently skipped, when an installed reference cannot import."""

import sys

import pytest

from reference_import import import_reference


def test_installed_but_broken_reference_fails(monkeypatch):
    # stand-in for imagecorruptions 1.1.2 under setuptools >= 81: installed, import raises
    monkeypatch.setitem(sys.modules, "broken_reference_for_test", None)  # import of it raises ImportError
    with pytest.raises(pytest.fail.Exception, match="pytest is installed but `import broken_reference_for_test`"):
        import_reference("broken_reference_for_test", ("pytest",))


def test_absent_reference_skips_and_present_one_imports():
    with pytest.raises(pytest.skip.Exception):
        import_reference("no_such_reference_module", ("no-such-distribution-h16b",))
    assert import_reference("json", ("pytest",)).dumps({}) == "{}"
