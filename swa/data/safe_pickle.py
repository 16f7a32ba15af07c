"""Reading pickled data files without running code from them.

A pickle can name any importable callable (``os.system``, ``builtins.eval``) and
have it called while loading, so a file planted in a data folder could run code.
:func:`load_data_pickle` admits only what data pickles such as CIFAR's batches
need: plain containers, numbers, strings and bytes (built by pickle opcodes, no
import needed) and NumPy arrays, dtypes and scalars. Anything else is refused
with :class:`pickle.UnpicklingError` naming the global, before it is called.
"""

from __future__ import annotations

import pickle
from typing import IO, Any

__all__ = ["load_data_pickle", "ALLOWED_GLOBALS"]

# (module, name) pairs a NumPy array pickle refers to; numpy 2 moved numpy.core to numpy._core.
ALLOWED_GLOBALS = frozenset({
    (core, name) for core in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")})


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a data file may hold only arrays, "
                                         "lists, dicts, numbers, strings and bytes")
        return super().find_class(module, name)


def load_data_pickle(f: IO[bytes], encoding: str = "ASCII") -> Any:
    """``pickle.load(f, encoding=encoding)`` restricted to data (see the module docstring).

    Raises:
        pickle.UnpicklingError: the file names a global other than :data:`ALLOWED_GLOBALS`.
    """
    return _DataUnpickler(f, encoding=encoding).load()
