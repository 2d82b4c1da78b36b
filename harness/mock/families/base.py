"""What every API family declares (:class:`ApiFamily`) and reads (:class:`Call`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.stream.outputs import OUTPUTS, Output
from harness.stream.provider_errors import Family

__all__ = ["ApiFamily", "Call"]


@dataclass(frozen=True)
class Call:
    """What a request asks for, as its family reads it."""

    #: The model named in the path or the body (``None``: none, or not a string).
    model: str | None
    #: Whether the client asked for a stream.
    stream: bool


@dataclass(frozen=True)
class ApiFamily:
    """One served API.

    Subclasses override :meth:`accepts`, :meth:`read`, :meth:`owns`, :meth:`serves`,
    :meth:`example_paths` and :meth:`roots` where their routes say more than one
    fixed path.

    Attributes:
        name: the family: its error shape and its :data:`~harness.stream.outputs.OUTPUTS` entry.
        label: how people call it ("OpenAI"), for ``harness serve``'s base URLs.
        rules: the URL rules of its routes (Quart syntax), all ``POST``.
        hint: its routes, as a 404 answer names them.
        sdk_suffix: what its SDK expects after the server's root in ``base_url``.
        listed: whether ``harness serve`` prints a base URL for it at start (not when
            another family's URL already serves it, or its SDK takes no base URL).
        sdk_option: what its SDK calls the base URL (``base_url``; boto3's
            ``endpoint_url``), as ``harness serve`` prints it.
    """

    name: Family
    label: str
    rules: tuple[str, ...]
    hint: str
    sdk_suffix: str = ""
    listed: bool = True
    sdk_option: str = "base_url"

    @property
    def output(self) -> Output:
        """What it sends: its renderer, its whole answer, which scenarios it replays."""
        return OUTPUTS[self.name]

    def accepts(self, args: Mapping[str, str]) -> bool:
        """Whether a path that matched one of its rules (``args``: the rule's variables)
        is a route of this API; ``False`` answers 404 before the body is read."""
        del args
        return True

    def read(self, args: Mapping[str, str], body: Mapping[str, Any]) -> Call:
        """The call a request makes: ``args`` from the URL rule, ``body`` the JSON object.

        By default the model and ``stream: true`` come from the body.
        """
        model = body.get("model")
        return Call(model if isinstance(model, str) else None, body.get("stream") is True)

    def owns(self, path: str) -> bool:
        """Whether an answer to ``path`` (routed or not) takes this family's error shape."""
        return path in self.rules

    def serves(self, path: str) -> bool:
        """Whether a request to ``path`` reaches one of its routes and is read as a call."""
        return path in self.rules

    def example_paths(self, model: str) -> list[str]:
        """Concrete paths its routes answer, for a request naming ``model``."""
        del model
        return list(self.rules)

    def roots(self) -> tuple[str, ...]:
        """The first path segments of its routes (``v1``): in ``/s/{name}/{root}/...``
        an unknown scenario name ends before the first of them."""
        return tuple(rule.strip("/").split("/")[0] for rule in self.rules)
