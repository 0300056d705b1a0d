"""The import hook that lets two Whoosh modules load without two imports they never use.

``whoosh.compat`` imports ``urllib.request`` (http.client, ssl, email: ~25 ms) for an
``urlretrieve`` nothing calls, and ``whoosh.reading`` takes ``cached_property`` from a
package that imports asyncio (~15 ms). A one-shot ``indexer search`` pays for every
import, so each stands in with a stub only while that module runs; a later real import of
either gets the real module. ``install`` must run before anything imports Whoosh.
"""

from __future__ import annotations

import functools
import sys
import types
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from importlib.abc import Loader

__all__ = ["install"]

_LIGHTENED = ("whoosh.compat", "whoosh.reading")


def _urlretrieve(*args: Any, **kwargs: Any) -> Any:
    from urllib.request import urlretrieve  # the real one, should anything call it

    return urlretrieve(*args, **kwargs)


def _stubs() -> dict[str, types.ModuleType]:
    stubs = {}
    if "urllib.request" not in sys.modules:
        request = types.ModuleType("urllib.request")
        request.urlretrieve = _urlretrieve  # type: ignore[attr-defined]
        stubs["urllib.request"] = request
    if "cached_property" not in sys.modules:
        cached = types.ModuleType("cached_property")
        cached.cached_property = functools.cached_property  # type: ignore[attr-defined]
        stubs["cached_property"] = cached
    return stubs


class _StubbedLoader:
    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        stubs = _stubs()
        sys.modules.update(stubs)
        try:
            self.loader.exec_module(module)
        finally:
            for name, stub in stubs.items():
                if sys.modules.get(name) is stub:
                    del sys.modules[name]


class _LightWhoosh:
    """A meta path finder for the two modules; it steps aside once both are loaded."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in _LIGHTENED:
            return None
        if all(n in sys.modules or n == name for n in _LIGHTENED) and self in sys.meta_path:
            sys.meta_path.remove(self)
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = cast("Loader", _StubbedLoader(spec.loader))
                return spec
        return None


def install() -> None:
    """Put the hook first on the import path, unless Whoosh's reader is loaded already
    (nothing left to lighten) or the hook is there."""
    if "whoosh.reading" not in sys.modules and not any(isinstance(f, _LightWhoosh) for f in sys.meta_path):
        sys.meta_path.insert(0, _LightWhoosh())
