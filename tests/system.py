"""System programs some tests need (Debian packages that .ci/run installs).

In CI a missing program fails the test: a skip must never pass for a check that did not run. On a
developer's machine the test is skipped with the package to install.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require(program: str, package: str) -> str:
    path = shutil.which(program)
    if path:
        return path
    message = f"{program} is not installed (apt-get install {package})"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
