"""Importing a reference library for a comparison test: skip only when it is not installed.

``pytest.importorskip`` skips on any import error, so a reference that is installed but
broken (imagecorruptions 1.1.2 imports ``pkg_resources``, which setuptools >= 81 no longer
ships) made the comparison silently disappear. Here a reference whose distribution is
installed must import, or the test module fails with the reason.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from types import ModuleType

import pytest


def installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def import_reference(module: str, distributions: tuple[str, ...], hint: str = "") -> ModuleType:
    """``module``, imported; a skip when none of ``distributions`` is installed; a failure when one is
    installed but the import fails."""
    present = [d for d in distributions if installed(d)]
    try:
        return importlib.import_module(module)
    except Exception as err:  # noqa: BLE001 - any import failure of an installed reference is the finding
        if present:
            pytest.fail(f"{present[0]} is installed but `import {module}` fails: {type(err).__name__}: {err}"
                        + (f" ({hint})" if hint else ""), pytrace=False)
        pytest.skip(f"{module} is not installed (pip install -e '.[test]' installs the reference)")
