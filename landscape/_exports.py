"""Lazy exports of a package: ``from landscape.engine import Evaluator`` imports only the module that defines it.

Each package ``__init__`` names its public objects and the module of each; the module is imported on first
access, so importing one layer never loads the modules of another it does not use.
"""

import importlib


def lazy_exports(package: str, exports: dict):
    """``(__getattr__, __dir__)`` for a package whose public names live in the modules ``exports`` maps to."""

    def __getattr__(name):
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(importlib.import_module(package).__dict__) | set(exports))

    return __getattr__, __dir__
