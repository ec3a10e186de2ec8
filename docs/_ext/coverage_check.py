"""Fails the docs build when a public name (in any ``__all__``) has no API entry.

Every name in the ``__all__`` of ``optlib`` and of each public subpackage must appear in
some ``docs/api/*.rst`` as a fully qualified autosummary line (``   optlib.dag.TopoSwap``);
a re-export counts as documented when the object it names is.
"""

import importlib
import pkgutil
from pathlib import Path

from sphinx.errors import ExtensionError


def _documented(api_dir: Path) -> set[str]:
    names = set()
    for rst in api_dir.glob("*.rst"):
        for line in rst.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("optlib.") and " " not in stripped:
                names.add(stripped)
    return names


def _public(package: str) -> dict[str, list[str]]:
    module = importlib.import_module(package)
    out = {package: [n for n in getattr(module, "__all__", []) if not _is_module(module, n)]}
    for info in pkgutil.iter_modules(module.__path__):
        if info.ispkg and not info.name.startswith("_"):
            out.update(_public(f"{package}.{info.name}"))
    return out


def _resolve(dotted):
    module_name, _, attr = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return None


def _is_module(module, name):
    import types

    return isinstance(getattr(module, name, None), types.ModuleType)


def check(app, env):
    api_dir = Path(app.srcdir) / "api"
    documented = _documented(api_dir)
    documented_objects = {id(obj) for obj in map(_resolve, documented) if obj is not None}
    missing = []
    for package, names in _public("optlib").items():
        module = importlib.import_module(package)
        for name in names:
            if id(getattr(module, name)) not in documented_objects:
                missing.append(f"{package}.{name}")
    if missing:
        raise ExtensionError("undocumented public names (add them to docs/api/*.rst): "
                             + ", ".join(sorted(missing)))


def setup(app):
    app.connect("env-updated", check)
    return {"parallel_read_safe": True}
