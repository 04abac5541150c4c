"""Score-aware (anisotropic) product quantization: the residual along the datapoint costs more.

Inner-product search ranks an item ``x`` by ``<t, x>``; its code ``q`` changes that score by
``<t, x - q>``. For the queries that rank ``x`` near the top, ``t`` leans towards ``x``, so the part of
the residual ``r = x - q`` *parallel* to ``x`` moves their scores most, the orthogonal part less (the
idea of anisotropic vector quantization, Guo et al., ICML 2020). With ``eta`` = the weight of the
parallel part relative to the orthogonal one, per item::

    r_par  = (<r, x> / |x|^2) x                 r_perp = r - r_par
    l(x, q) = eta |r_par|^2 + |r_perp|^2 = |r|^2 + (eta - 1) <r, x>^2 / |x|^2

``eta = 1`` is the plain squared error (isotropic, ordinary k-means / PQ). Shapes: items ``x [N, D]``
cut into ``M`` sub-vectors ``x_m [N, d]`` (``D = M d``), codebooks ``C [M, K, d]``, codes ``[N, M]``.
The parallel term couples the sub-vectors (``<r, x> = sum_m <r_m, x_m>``), so

* :func:`anisotropic_codes` assigns by coordinate descent: start from the nearest codewords, then for
  each sub-vector in turn take the codeword minimising ``l`` with the other sub-codes fixed (``n_pass``
  sweeps; ``l`` never increases);
* :func:`anisotropic_update` moves each codeword ``c = C[m, k]`` to the minimiser of ``l`` summed over
  its items ``i``, the other sub-codes fixed: with ``w_i = (eta - 1) / |x_i|^2`` and ``b_i = <r_i, x_i> +
  <c_old, x_im>`` (the parallel residual without this sub-vector's codeword),
  ``(n I + sum_i w_i x_im x_im^T) c = sum_i x_im + sum_i w_i b_i x_im``  (a ``[d, d]`` solve per codeword);
* :func:`anisotropic_kmeans` alternates the two from given codebooks (e.g. ordinary k-means).

Torch tensors in and out (no gradient); the numpy PQ baseline converts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from distilhash.errors import ConfigError

if TYPE_CHECKING:  # types only: importing this module does not import torch
    from torch import Tensor

__all__ = ["anisotropic_loss", "parallel_split", "anisotropic_codes", "anisotropic_update", "anisotropic_kmeans"]


def _check_eta(eta: float) -> None:
    if not eta >= 1.0:
        raise ConfigError(f"anisotropic quantization: the parallel weight eta must be >= 1 (1 = isotropic), got {eta}")


def anisotropic_loss(x: Any, q: Any, eta: float) -> Any:
    """Per item ``l(x, q)`` ``[N]`` (module docstring) of items ``x [N, D]`` and reconstructions ``q [N, D]``.

    Works on torch tensors (differentiable in both arguments) and numpy arrays alike.
    """
    r = x - q
    err = (r * r).sum(1)
    if eta == 1.0:
        return err
    par = (r * x).sum(1)
    return err + (eta - 1.0) * par * par / (x * x).sum(1).clip(1e-12)


def parallel_split(x: Any, q: Any) -> tuple[Any, Any]:
    """Mean parallel and orthogonal squared residual, ``(mean |r_par|^2, mean |r_perp|^2)``, of ``x, q [N, D]``."""
    r = x - q
    par = (r * x).sum(1) ** 2 / (x * x).sum(1).clip(1e-12)
    return par.mean(), ((r * r).sum(1) - par).mean()


def _sub(x: Tensor, codebooks: Tensor) -> Tensor:
    M, K, d = codebooks.shape
    if x.ndim != 2 or x.shape[1] != M * d:
        raise ConfigError(f"anisotropic quantization: items of shape {tuple(x.shape)}; expected [N, {M * d}] "
                          f"for {M} codebooks of width {d}")
    return x.reshape(len(x), M, d)


def anisotropic_codes(x: Tensor, codebooks: Tensor, eta: float, n_pass: int = 2, chunk: int = 4096) -> Tensor:
    """Codes int64 ``[N, M]`` of ``x [N, M d]`` minimising ``l`` under ``codebooks [M, K, d]`` (coordinate descent)."""
    import torch

    _check_eta(eta)
    xs = _sub(x, codebooks)
    cb_sq = (codebooks * codebooks).sum(-1)  # [M, K]
    out = []
    with torch.no_grad():
        for s in range(0, len(xs), chunk):
            xb = xs[s : s + chunk]  # [B, M, d]
            dots = torch.einsum("bmd,mkd->bmk", xb, codebooks)  # <x_m, c_mk>
            err_k = (xb * xb).sum(-1, keepdim=True) - 2 * dots + cb_sq[None]  # |x_m - c_mk|^2  [B, M, K]
            par_k = (xb * xb).sum(-1, keepdim=True) - dots  # <x_m - c_mk, x_m>
            codes = err_k.argmin(-1)  # the isotropic start
            if eta != 1.0:
                w = (eta - 1.0) / (xb * xb).sum((1, 2)).clamp(min=1e-12)  # [B]
                for _ in range(n_pass):
                    err = err_k.gather(2, codes[..., None])[..., 0]  # [B, M] of the current codes
                    par = par_k.gather(2, codes[..., None])[..., 0]
                    for m in range(xs.shape[1]):
                        e_rest = err.sum(1) - err[:, m]  # [B]
                        p = (par.sum(1) - par[:, m])[:, None] + par_k[:, m]  # [B, K] parallel residual per candidate
                        cost = e_rest[:, None] + err_k[:, m] + w[:, None] * p * p
                        codes[:, m] = cost.argmin(1)
                        err[:, m] = err_k[:, m].gather(1, codes[:, m, None])[:, 0]
                        par[:, m] = par_k[:, m].gather(1, codes[:, m, None])[:, 0]
            out.append(codes)
    return torch.cat(out) if out else torch.zeros(0, codebooks.shape[0], dtype=torch.long)


def anisotropic_update(x: Tensor, codes: Tensor, codebooks: Tensor, eta: float) -> Tensor:
    """New codebooks ``[M, K, d]``: each used codeword at its minimiser of ``l`` (Gauss-Seidel over the
    sub-vectors, the codes ``[N, M]`` fixed); unused codewords stay."""
    import torch

    _check_eta(eta)
    xs = _sub(x, codebooks)
    M, K, d = codebooks.shape
    cb = codebooks.clone()
    codes = codes.long()
    w = (eta - 1.0) / (xs * xs).sum((1, 2)).clamp(min=1e-12)  # [N]
    eye = torch.eye(d, dtype=cb.dtype)
    with torch.no_grad():
        for m in range(M):
            q = cb[torch.arange(M)[None, :], codes]  # [N, M, d] current reconstruction
            par = ((xs - q) * xs).sum((1, 2))  # <r_i, x_i>
            xm, km = xs[:, m], codes[:, m]
            b = par + (q[:, m] * xm).sum(1)
            n = torch.bincount(km, minlength=K).to(cb.dtype)
            outer = (w[:, None, None] * xm[:, :, None] * xm[:, None, :]).reshape(-1, d * d)  # w_i x_im x_im^T
            A = torch.zeros(K, d * d, dtype=cb.dtype).index_add_(0, km, outer)
            rhs = torch.zeros(K, d, dtype=cb.dtype).index_add_(0, km, xm + (w * b)[:, None] * xm)
            used = n > 0
            A = A.reshape(K, d, d)[used] + n[used, None, None] * eye
            cb[m, used] = torch.linalg.solve(A, rhs[used])
    return cb


def anisotropic_kmeans(x: Tensor, codebooks: Tensor, eta: float, n_iter: int = 5) -> Tensor:
    """``n_iter`` alternations of :func:`anisotropic_codes` and :func:`anisotropic_update` from ``codebooks``;
    returns the new codebooks ``[M, K, d]``."""
    cb = codebooks.clone()
    for _ in range(n_iter):
        cb = anisotropic_update(x, anisotropic_codes(x, cb, eta), cb, eta)
    return cb
