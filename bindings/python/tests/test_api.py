"""The public API as a user sees it: what `from mailtls import *` binds,
docstrings on every public name, and the typing marker.

Runs against the source tree or the installed package (conftest.py).
"""

from __future__ import annotations

import builtins
import inspect

import pytest

import mailtls
import mailtls.errors
from conftest import PACKAGE_ROOT


def star_import(module: str) -> dict:
    """The namespace `from <module> import *` makes in an empty module."""
    namespace: dict = {}
    exec(f"from {module} import *", namespace)
    del namespace["__builtins__"]
    return namespace


@pytest.mark.parametrize("module", ["mailtls", "mailtls.errors"])
def test_star_import_leaves_the_builtins_alone(module):
    namespace: dict = {"builtins": builtins}
    exec(
        f"from {module} import *\n"
        "timeout_is_builtin = TimeoutError is builtins.TimeoutError\n"
        "connection_is_builtin = ConnectionError is builtins.ConnectionError\n",
        namespace,
    )
    assert namespace["timeout_is_builtin"] and namespace["connection_is_builtin"]
    shadowed = sorted(set(star_import(module)) & set(dir(builtins)))
    assert shadowed == [], f"`from {module} import *` rebinds builtins: {shadowed}"


def test_star_import_binds_every_public_name():
    namespace = star_import("mailtls")
    assert sorted(namespace) == sorted(mailtls.__all__)
    assert namespace["SMTP"] is mailtls.SMTP  # a lazy name, loaded by the import
    assert namespace["POP3"] is mailtls.POP3


def test_builtin_named_errors_stay_reachable_as_subclasses_of_the_builtins():
    for name in ("TimeoutError", "ConnectionError"):
        cls = getattr(mailtls, name)
        assert cls is getattr(mailtls.errors, name)
        assert cls is not getattr(builtins, name)
        assert issubclass(cls, getattr(builtins, name)) and issubclass(cls, mailtls.Error)
    # After a star import, the builtin name still catches mailtls's timeouts.
    namespace: dict = {"mailtls": mailtls}
    exec(
        "from mailtls import *\n"
        "try:\n"
        "    raise mailtls.TimeoutError('no answer', Result.TIMEOUT)\n"
        "except TimeoutError as e:\n"
        "    caught = e\n",
        namespace,
    )
    assert isinstance(namespace["caught"], mailtls.TimeoutError)


def public_members(cls: type) -> dict:
    """The public functions and properties of ``cls`` written in mailtls
    (in it or its mailtls base classes; ``__init__`` counts, a generated one
    such as a dataclass's does not), by the name they are reached by."""
    found = {}
    for klass in cls.__mro__:
        if not klass.__module__.startswith("mailtls"):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_") and name != "__init__":
                continue
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if inspect.isfunction(member):
                if not member.__code__.co_filename.endswith(".py"):
                    continue  # generated (dataclass)
            elif not isinstance(member, property):
                continue
            found.setdefault(f"{cls.__name__}.{name}", member)
    return found


def test_every_public_name_has_a_docstring():
    assert mailtls.__doc__ and mailtls.errors.__doc__
    undocumented = []
    names = [n for n in mailtls.__all__ if n != "__version__"] + ["TimeoutError", "ConnectionError"]
    for name in names:
        obj = getattr(mailtls, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            undocumented.append(f"{name}: neither a class nor a function ({type(obj).__name__})")
            continue
        if not (obj.__doc__ or "").strip():
            undocumented.append(name)
        if inspect.isclass(obj):
            for reached_as, member in public_members(obj).items():
                if not (member.__doc__ or "").strip():
                    # Named where it is defined: Error.__init__ once, not
                    # once per subclass.
                    undocumented.append(getattr(member, "__qualname__", reached_as))
    assert sorted(set(undocumented)) == []
    # The walk reached the methods that matter.
    members = public_members(mailtls.POP3)
    assert {"POP3.retr", "POP3.login", "POP3.close", "POP3.closed", "POP3.__init__"} <= set(members)
    assert {"SMTP.send", "SMTP.send_many"} <= set(public_members(mailtls.SMTP))


def test_the_package_is_marked_typed():
    assert (PACKAGE_ROOT / "mailtls" / "py.typed").is_file()
