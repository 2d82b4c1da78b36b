"""One error tree: every exception class harness defines derives from HarnessError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import harness
from harness import errors
from harness.errors import HarnessError, InvalidValueError, SSEEncodeError, UsageError

#: Exceptions that stay outside the tree on purpose, with why. Names starting with
#: ``_`` (private control flow inside one module) are allowed without a listing.
OUTSIDE_THE_TREE = {
    # Must be a ConnectionResetError: it is raised inside Hypercorn's write path when
    # the client hung up, and caught by the ASGI layer; it never reaches a user.
    "ClientGone": ConnectionResetError,
    # The ASGI layer's control flow for a planned cut; caught there, never escapes.
    "Abort": Exception,
}

#: ``harness.__main__`` runs the command line when imported.
NOT_IMPORTED = {"harness.__main__"}


def _exception_classes() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for module_info in pkgutil.walk_packages(harness.__path__, "harness."):
        if module_info.name in NOT_IMPORTED:
            continue
        module = importlib.import_module(module_info.name)
        found.extend(
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, BaseException)
            and value.__module__ == module.__name__
        )
    return found


def test_every_exception_harness_defines_is_a_harness_error() -> None:
    """Walk every module: a public exception class is a HarnessError, or listed."""
    classes = _exception_classes()
    assert HarnessError in classes  # the walk did reach the modules
    stray = []
    for cls in classes:
        if issubclass(cls, HarnessError) or cls.__name__.startswith("_"):
            continue
        allowed = OUTSIDE_THE_TREE.get(cls.__name__)
        if allowed is None or not issubclass(cls, allowed):
            stray.append(f"{cls.__module__}.{cls.__qualname__}")
    assert stray == [], f"not HarnessError subclasses: {stray}"


def test_the_errors_docstring_draws_every_class_of_the_tree() -> None:
    """The tree in harness.errors' docstring names each HarnessError subclass."""
    doc = errors.__doc__ or ""
    drawn = set(re.findall(r"[├└]── (\w+)", doc)) | {"HarnessError"}
    defined = {cls.__name__ for cls in _exception_classes() if issubclass(cls, HarnessError)}
    assert defined <= drawn, f"missing from the errors.py tree: {sorted(defined - drawn)}"


def test_value_errors_stay_value_errors() -> None:
    """Errors that were ValueErrors before the tree still are (callers catch them)."""
    assert issubclass(InvalidValueError, UsageError)
    assert issubclass(InvalidValueError, ValueError)
    assert issubclass(SSEEncodeError, InvalidValueError)


@pytest.mark.parametrize("text", ["-1", "65536", "8.0", "x", ""])
def test_a_bad_port(text: str) -> None:
    """harness._args.port raises a plain ValueError (callers turn it into their own)."""
    from harness._args import port

    with pytest.raises(ValueError, match="a port is an integer from 0 to 65535"):
        port(text)


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "fast", -1, None, [1]])
def test_a_bad_speed(value: object) -> None:
    """harness._args.speed: a finite number >= 0; the float() error is the cause."""
    from harness._args import speed

    with pytest.raises(ValueError, match=r"a harness speed is a finite number >= 0") as info:
        speed(value)
    not_a_number = value in ("fast", None, [1])
    assert (info.value.__cause__ is not None) is not_a_number


@pytest.mark.parametrize(("value", "expected"), [("0", 0.0), (" 1.5 ", 1.5), (2, 2.0), ("-0", 0.0)])
def test_a_speed(value: object, expected: float) -> None:
    """Whatever float() reads, finite and >= 0."""
    from harness._args import speed

    assert speed(value) == expected
