"""Curvature as a linear operator: the Hessian of the training loss, seen only through products.

For the training loss L(w) of :class:`~landscape.curvature.objective.ModelObjective` at its point w₀,

    H = ∇²L(w₀) ∈ R^{P×P},        matvec(v) = H v   (one Hessian-vector product)

is never formed; :class:`HessianOperator` wraps the objective's forward-over-reverse
Hessian-vector product (``torch.func.jvp`` of ``torch.func.grad``) as a symmetric linear
operator, the curvlinops design. Every spectral estimator of :mod:`landscape.curvature.spectrum`
(Lanczos, power iteration, Hutchinson, Hutch++, stochastic Lanczos quadrature) is written
against this interface, never against the model:

* ``shape``                 (P, P)
* ``dtype``, ``device``     what :meth:`~SymmetricOperator.matvec` takes and returns (torch)
* ``matvec(v)``             H v for a flat torch vector v of length P
* ``to_scipy()``            a ``scipy.sparse.linalg.LinearOperator`` on float64 numpy vectors
* ``dense(limit)``          the P×P matrix from P products with the identity's columns

:class:`DenseOperator` gives an explicit symmetric matrix the same interface, for tests and
for users who have the matrix.

.. note:: Raw Hessian eigenvalues and trace are not invariant to reparameterizations that
   leave the network function unchanged (Dinh et al. 2017, "Sharp Minima Can Generalize For
   Deep Nets"): rescaling one ReLU layer by α and the next by 1/α changes H but not the
   function. Compare them only between models of one architecture and parameterization.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator

from swa.precision import precision_scope

__all__ = ["Operator", "SymmetricOperator", "HessianOperator", "DenseOperator"]

DEFAULT_DENSE_LIMIT = 4096


@runtime_checkable
class Operator(Protocol):
    """What :mod:`landscape.curvature.spectrum` needs of a symmetric linear operator."""

    @property
    def shape(self) -> tuple[int, int]: ...

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def device(self) -> torch.device: ...

    def matvec(self, v: torch.Tensor) -> torch.Tensor: ...

    def to_scipy(self) -> LinearOperator: ...


class SymmetricOperator(ABC):
    """A symmetric P×P linear operator acting on flat torch vectors; subclasses implement ``_matvec``.

    ``matvec_count`` counts the products taken through :meth:`matvec` (including those made by
    :meth:`to_scipy` and :meth:`dense`).
    """

    def __init__(self, size: int, dtype: torch.dtype, device: torch.device | str) -> None:
        if size < 1:
            raise ValueError(f"the operator's size must be >= 1, got {size}")
        self._size = int(size)
        self._dtype = dtype
        self._device = torch.device(device)
        self.matvec_count = 0

    @property
    def shape(self) -> tuple[int, int]:
        return (self._size, self._size)

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    @property
    def device(self) -> torch.device:
        return self._device

    @abstractmethod
    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        """A·v for ``v`` already of the operator's dtype and device and shape (P,)."""

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """A·v for a flat torch vector ``v`` of length P (cast to the operator's dtype and device).

        Raises:
            TypeError: ``v`` is not a torch tensor (use :meth:`to_scipy` for numpy).
            ValueError: ``v`` does not have shape (P,).
        """
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"matvec takes a torch.Tensor, got {type(v).__name__}; use to_scipy() for numpy arrays")
        if tuple(v.shape) != (self._size,):
            raise ValueError(f"matvec needs a vector of shape ({self._size},), got {tuple(v.shape)}")
        out = self._matvec(v.detach().to(self._device, self._dtype))
        self.matvec_count += 1
        return out

    def to_scipy(self) -> LinearOperator:
        """This operator as a ``scipy.sparse.linalg.LinearOperator`` (float64 numpy in and out).

        Vectors are converted to the operator's torch dtype and device for each product and back
        to float64 numpy; matrix products are taken column by column; the adjoint is the operator
        itself (symmetric).
        """
        return _ScipyView(self)

    def dense(self, limit: int = DEFAULT_DENSE_LIMIT) -> np.ndarray:
        """The P×P matrix (float64 numpy) from P products with the identity's columns: column i is A e_i.

        For tests and small models only: it costs P products and P² memory.

        Args:
            limit: the largest P allowed [4096].

        Raises:
            ValueError: P > ``limit``.
        """
        n = self._size
        if n > limit:
            raise ValueError(f"dense() of a {n}x{n} operator exceeds limit={limit}; "
                             f"pass a larger limit (it costs {n} products and {n}x{n} float64 memory)")
        out = np.empty((n, n), dtype=np.float64)
        e = torch.zeros(n, dtype=self._dtype, device=self._device)
        for i in range(n):
            e[i] = 1
            out[:, i] = self.matvec(e).detach().to("cpu", torch.float64).numpy()
            e[i] = 0
        return out


class _ScipyView(LinearOperator):
    """A :class:`SymmetricOperator` seen by scipy: float64 numpy in and out."""

    def __init__(self, op: SymmetricOperator) -> None:
        self.op = op
        super().__init__(dtype=np.dtype(np.float64), shape=op.shape)

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        v = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64).reshape(-1))
        return self.op.matvec(v).detach().to("cpu", torch.float64).numpy()

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        return self._matvec(x)

    def _matmat(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.stack([self._matvec(x[:, j]) for j in range(x.shape[1])], axis=1)

    def _adjoint(self) -> "_ScipyView":
        return self


class HessianOperator(SymmetricOperator):
    """H = ∇²L(w₀) of a :class:`~landscape.curvature.objective.ModelObjective` at its point, as an operator.

    ``matvec(v)`` is ``objective.hvp(v)`` (one forward-over-reverse product over the objective's
    samples; it also advances ``objective.hvp_count``), computed in full float32 (TF32 off on CUDA,
    :func:`swa.precision.precision_scope` ``fp32``), so that eigenvalues and Hessian directions agree
    with the CPU's. ``dtype`` and ``device`` are the objective's: float64 for exact tests, float32
    for networks.

    Args:
        objective: anything with ``hvp(v)``, ``num_params``, ``dtype`` and ``device``.

    Example::

        op = HessianOperator(ModelObjective(model, data, state))
        top = landscape.curvature.spectrum.top_eigenvalues_lanczos(op, k=5)

    .. note:: Raw Hessian eigenvalues and trace depend on the parameterization (Dinh et al. 2017).
    """

    def __init__(self, objective) -> None:
        self.objective = objective
        super().__init__(objective.num_params, objective.dtype, objective.device)

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        with precision_scope(self._device, "fp32"):
            return self.objective.hvp(v)


class DenseOperator(SymmetricOperator):
    """An explicit symmetric matrix A with the operator interface (``matvec`` = A @ v).

    Args:
        matrix: a square, symmetric (to a few ulps of its dtype) numpy array or torch tensor.
            numpy arrays become float64 CPU tensors; torch tensors keep their floating dtype and
            device.

    Raises:
        ValueError: ``matrix`` is not square, not floating-point, or not symmetric.
    """

    def __init__(self, matrix: np.ndarray | torch.Tensor) -> None:
        m = torch.from_numpy(np.asarray(matrix, dtype=np.float64)) if not isinstance(matrix, torch.Tensor) else matrix
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise ValueError(f"matrix must be square (P, P), got shape {tuple(m.shape)}")
        if not m.is_floating_point():
            raise ValueError(f"matrix must be floating-point, got {m.dtype}")
        scale = float(m.abs().max()) if m.numel() else 0.0
        asym = float((m - m.T).abs().max()) if m.numel() else 0.0
        if asym > 100 * torch.finfo(m.dtype).eps * max(scale, 1e-300):
            raise ValueError(f"matrix must be symmetric: max |A - Aᵀ| = {asym:.3g} for max |A| = {scale:.3g}")
        self.matrix = m.detach()
        super().__init__(m.shape[0], m.dtype, m.device)

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.matrix @ v
