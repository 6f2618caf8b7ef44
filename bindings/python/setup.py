"""The wheel's tag says whether the package carries a native library.

setuptools tags a package without extension modules ``py3-none-any``:
right for the pure package, which loads libmailtls from MAILTLS_LIBRARY or
the system. A wheel with libmailtls inside the package directory (what
build_wheel.sh builds) runs only where that library does, so it is tagged
for the build's platform instead: ``py3-none-<platform>``, e.g.
``py3-none-linux_x86_64``, and marked platform-specific (``Root-Is-Purelib:
false``). The Python tag stays ``py3`` and the ABI tag ``none``: the package
calls the library through ctypes, so any Python 3 interpreter can use it.
Not ``manylinux``: the library is not audited against that policy (it links
the system's OpenSSL 3).

Everything else is in pyproject.toml.
"""

from __future__ import annotations

import os

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
# The names mailtls/_lib.py looks for in the package directory.
LIBRARY_NAMES = ("libmailtls.so", "libmailtls.dylib", "mailtls.dll", "libmailtls.dll")


def bundled_library() -> str | None:
    """The native library in the package directory, if one was put there."""
    for name in LIBRARY_NAMES:
        path = os.path.join(HERE, "mailtls", name)
        if os.path.exists(path):
            return path
    return None


class DistributionWithLibrary(Distribution):
    """A bundled library counts as native code, as an extension module
    would: the wheel is then platform-specific (bdist_wheel reads this) and
    the package is installed into platlib."""

    def has_ext_modules(self) -> bool:
        return bundled_library() is not None


class PlatformWheelWhenBundled(bdist_wheel):
    """bdist_wheel that tags a wheel holding libmailtls ``py3-none-<platform>``
    (not ``cpXY-cpXY-<platform>``, as it would for an extension module)."""

    def get_tag(self) -> tuple[str, str, str]:
        python, abi, platform = super().get_tag()
        if not self.root_is_pure:
            python, abi = "py3", "none"  # ctypes: no interpreter ABI involved
        return python, abi, platform


setup(distclass=DistributionWithLibrary, cmdclass={"bdist_wheel": PlatformWheelWhenBundled})
