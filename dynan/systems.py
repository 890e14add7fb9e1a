"""Reference dynamical systems with known Lyapunov spectra and closed-form Jacobians.

Each factory returns a :class:`~dynan.system.DynamicalSystem` in float64 whose ``step``,
``jacobian`` and ``step_and_jvp`` are analytic (no autograd):

- :func:`henon` — the Hénon map, λ₁ ≈ 0.419, λ₁ + λ₂ = ln b exactly (det J = −b);
- :func:`logistic` — the logistic map, λ = ln 2 at r = 4;
- :func:`lorenz` — the Lorenz flow advanced by one classical RK4 step per map step, with the
  tangent map exact for that RK4 step; spectrum (0.9056, 0, −14.5723) per unit time, sum
  −(σ + 1 + β);
- :func:`random_rnn` — h' = tanh(W h) with W ~ N(0, g²/n); for g < 1 the origin attracts and
  the exponents are log |eig W|.

References
----------
M. Hénon (1976). A two-dimensional mapping with a strange attractor. Commun. Math. Phys. 50.
E. N. Lorenz (1963). Deterministic nonperiodic flow. J. Atmos. Sci. 20.
J. C. Sprott (2003). Chaos and Time-Series Analysis, Oxford UP (Lorenz spectrum, Hénon λ₁).
H. Sompolinsky, A. Crisanti, H.-J. Sommers (1988). Chaos in random neural networks. PRL 61.
REFERENCES.md §2.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dynan.errors import SystemError_
from dynan.system import DynamicalSystem

__all__ = ["Henon", "Logistic", "Lorenz", "RandomRNN", "henon", "logistic", "lorenz", "random_rnn"]


def _finite(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise SystemError_(f"{name} must be a real number, got {value!r}") from err
    if not math.isfinite(value):
        raise SystemError_(f"{name} must be finite, got {value!r}")
    return value


class _Reference(DynamicalSystem):
    """Shared part: analytic Jacobian obtained by pushing the identity through the tangent map."""

    analytic_jacobian = True
    input_dim = 0

    def jacobian(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        eye = torch.eye(self.dim, dtype=x.dtype, device=x.device).expand(x.shape[0], -1, -1)
        return self.step_and_jvp(x, u, eye)[1]

    def jvp(self, x: Tensor, u: Tensor | None, tangents: Tensor) -> Tensor:
        return self.step_and_jvp(x, u, tangents)[1]


class _Quadratic(_Reference):
    """A map built on a quadratic field f(x) = c + A x + ½ M(x) x with M linear in x.

    Then Df(x) = A + M(x) exactly, so state and tangents advance together as one augmented
    tensor Y = [x | V] of shape (B, dim, 1 + k): F(Y) = [f(x) | Df(x) V] costs two small
    matmuls. Subclasses give c, A and the 3-tensor T (M(x)_ij = Σ_l T_ijl x_l) and say how a
    map step uses F (:meth:`_advance`): the Hénon and logistic maps apply it once, the Lorenz
    map takes one RK4 step of the augmented flow (the exact tangent of that RK4 step).
    """

    def _set_field(self, c: list[float], a: list[list[float]], t: dict) -> None:
        d = self.dim
        self._c = torch.tensor(c, dtype=self.dtype)
        self._a = torch.tensor(a, dtype=self.dtype)
        self._a_t = self._a.T.contiguous()
        tensor = torch.zeros(d, d, d, dtype=self.dtype)
        for index, value in t.items():
            tensor[index] = value
        self._t = tensor.reshape(d * d, d).T.contiguous()  # x @ _t → M(x) flattened

    def _field(self, y: Tensor) -> Tensor:
        x = y[:, :, 0]
        m = (x @ self._t).view(-1, self.dim, self.dim)
        out = torch.bmm(self._a + m, y)  # column 0: A x + M x; others: Df V
        out[:, :, 0] = self._c + 0.5 * (out[:, :, 0] + x @ self._a_t)
        return out

    def _advance(self, y: Tensor) -> Tensor:
        return self._field(y)

    def step(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        return self._advance(x[:, :, None])[:, :, 0]

    def step_and_jvp(self, x: Tensor, u: Tensor | None, tangents: Tensor) -> tuple[Tensor, Tensor]:
        out = self._advance(torch.cat((x[:, :, None], tangents), dim=2))
        return out[:, :, 0], out[:, :, 1:]


class Henon(_Quadratic):
    """Hénon map (x, y) ↦ (1 − a x² + y, b x); J = [[−2 a x, 1], [b, 0]], det J = −b."""

    dim = 2

    def __init__(self, a: float, b: float):
        self.a = _finite("a", a)
        self.b = _finite("b", b)
        self.name = f"henon(a={self.a:g}, b={self.b:g})"
        self._set_field([1.0, 0.0], [[0.0, 1.0], [self.b, 0.0]], {(0, 0, 0): -2 * self.a})

    def initial_state(self, batch: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Uniform in [−0.1, 0.1]², inside the basin of the attractor."""
        return 0.2 * torch.rand(batch, 2, generator=generator, dtype=self.dtype) - 0.1


class Logistic(_Quadratic):
    """Logistic map x ↦ r x (1 − x); J = r (1 − 2x)."""

    dim = 1

    def __init__(self, r: float):
        self.r = _finite("r", r)
        self.name = f"logistic(r={self.r:g})"
        self._set_field([0.0], [[self.r]], {(0, 0, 0): -2 * self.r})

    def initial_state(self, batch: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Uniform in [0.05, 0.95]."""
        return 0.05 + 0.9 * torch.rand(batch, 1, generator=generator, dtype=self.dtype)


class Lorenz(_Quadratic):
    """Lorenz flow, one classical RK4 step of length ``dt`` per map step, exact RK4 tangent map.

    The vector field is f(x, y, z) = (σ (y − x), x (ρ − z) − y, x y − β z) with Jacobian
    Df = [[−σ, σ, 0], [ρ − z, −1, −x], [y, x, −β]]. The tangent V is carried through the same
    four stages: K₁ = Df(x) V, K₂ = Df(x + dt/2 k₁)(V + dt/2 K₁), …, V' = V + dt/6 (K₁ + 2K₂ +
    2K₃ + K₄), which is the exact derivative of the RK4 map (not of the flow).
    """

    dim = 3

    def __init__(self, dt: float, sigma: float, rho: float, beta: float):
        self.dt = _finite("dt", dt)
        if self.dt <= 0:
            raise SystemError_(f"dt must be positive, got {dt!r}")
        self.sigma = _finite("sigma", sigma)
        self.rho = _finite("rho", rho)
        self.beta = _finite("beta", beta)
        self.name = (
            f"lorenz(dt={self.dt:g}, sigma={self.sigma:g}, rho={self.rho:g}, beta={self.beta:.6g})"
        )
        s, r, b = self.sigma, self.rho, self.beta
        # M(x, y, z) = [[0, 0, 0], [−z, 0, −x], [y, x, 0]]: the derivative of (0, −xz, xy)
        quadratic = {(1, 0, 2): -1.0, (1, 2, 0): -1.0, (2, 0, 1): 1.0, (2, 1, 0): 1.0}
        self._set_field([0.0, 0.0, 0.0], [[-s, s, 0.0], [r, -1.0, 0.0], [0.0, 0.0, -b]], quadratic)

    def _advance(self, y: Tensor) -> Tensor:
        h = self.dt
        k1 = self._field(y)
        k2 = self._field(torch.add(y, k1, alpha=h / 2))
        k3 = self._field(torch.add(y, k2, alpha=h / 2))
        k4 = self._field(torch.add(y, k3, alpha=h))
        return y.add(k1.add(k2, alpha=2).add_(k3, alpha=2).add_(k4), alpha=h / 6)

    def initial_state(self, batch: int, *, generator: torch.Generator | None = None) -> Tensor:
        """(0, 0, 25) plus N(0, 5²) noise: near the attractor, reached within a few time units."""
        x = 5.0 * torch.randn(batch, 3, generator=generator, dtype=self.dtype)
        return x + torch.tensor([0.0, 0.0, 25.0], dtype=self.dtype)


class RandomRNN(_Reference):
    """Random tanh network h' = tanh(W h); J = diag(1 − h'²) W. ``weight`` holds W (n, n)."""

    def __init__(self, n: int, g: float, seed: int):
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise SystemError_(f"n must be a positive integer, got {n!r}")
        self.g = _finite("g", g)
        if self.g < 0:
            raise SystemError_(f"g must be non-negative, got {g!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise SystemError_(f"seed must be an integer, got {seed!r}")
        self.dim = n
        self.seed = seed
        generator = torch.Generator().manual_seed(seed)
        scale = self.g / math.sqrt(n)
        self.weight = scale * torch.randn(n, n, generator=generator, dtype=self.dtype)
        self.name = f"random_rnn(n={n}, g={self.g:g}, seed={seed})"

    def step(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        return torch.tanh(x @ self.weight.T)

    def step_and_jvp(self, x: Tensor, u: Tensor | None, tangents: Tensor) -> tuple[Tensor, Tensor]:
        h = self.step(x)
        return h, (1 - h * h)[:, :, None] * torch.matmul(self.weight, tangents)

    def jacobian(self, x: Tensor, u: Tensor | None = None) -> Tensor:
        h = self.step(x)
        return (1 - h * h)[:, :, None] * self.weight


def henon(a: float = 1.4, b: float = 0.3) -> Henon:
    """The Hénon map (x, y) ↦ (1 − a x² + y, b x).

    Parameters
    ----------
    a, b : float
        Map parameters; the classical chaotic values are a = 1.4, b = 0.3.

    Returns
    -------
    Henon
        A 2-dimensional autonomous system with analytic Jacobian.

    Raises
    ------
    SystemError_
        If a parameter is not a finite number.

    Notes
    -----
    det J = −b everywhere, so λ₁ + λ₂ = ln |b| exactly; at (1.4, 0.3) λ₁ ≈ 0.41922 (Sprott
    2003) and the Kaplan–Yorke dimension ≈ 1.258. Cost per step O(B k) for k tangents.

    References
    ----------
    Hénon (1976), Commun. Math. Phys. 50, 69–77; Sprott (2003), Chaos and Time-Series Analysis.

    Examples
    --------
    >>> import torch
    >>> from dynan.systems import henon
    >>> henon().jacobian(torch.ones(1, 2, dtype=torch.float64))[0].tolist()
    [[-2.8, 1.0], [0.3, 0.0]]
    """
    return Henon(a, b)


def logistic(r: float = 4.0) -> Logistic:
    """The logistic map x ↦ r x (1 − x).

    Parameters
    ----------
    r : float
        Growth parameter; at r = 4 the map is conjugate to the tent map and λ = ln 2.

    Returns
    -------
    Logistic
        A 1-dimensional autonomous system with analytic Jacobian r (1 − 2x).

    Raises
    ------
    SystemError_
        If r is not a finite number.

    Notes
    -----
    Cost per step O(B). Start inside (0, 1); at r = 4 the orbit of almost every start has
    exponent ln 2 (REFERENCES.md §2).

    References
    ----------
    R. M. May (1976). Simple mathematical models with very complicated dynamics. Nature 261.

    Examples
    --------
    >>> import torch
    >>> from dynan.systems import logistic
    >>> logistic().step(torch.tensor([[0.25]], dtype=torch.float64)).item()
    0.75
    """
    return Logistic(r)


def lorenz(
    dt: float = 0.01, sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0
) -> Lorenz:
    """The Lorenz flow advanced by one RK4 step of length ``dt`` per map step.

    Parameters
    ----------
    dt : float
        Step length (time units); ``system.dt`` lets exponents be reported per unit time.
    sigma, rho, beta : float
        Lorenz parameters (classical chaotic values 10, 28, 8/3).

    Returns
    -------
    Lorenz
        A 3-dimensional autonomous map whose tangent map is the exact derivative of the RK4
        step (the tangent is propagated through the four RK4 stages).

    Raises
    ------
    SystemError_
        If a parameter is not finite or dt ≤ 0.

    Notes
    -----
    Per unit time the spectrum is (0.9056, 0, −14.5723) and its sum is −(σ + 1 + β), the
    constant trace of Df (Sprott 2003; REFERENCES.md §2); the RK4 map reproduces it to O(dt⁴).
    Cost per step: 4 field evaluations and 4 tangent products, O(B k).

    References
    ----------
    Lorenz (1963), J. Atmos. Sci. 20, 130–141; Sprott (2003), Chaos and Time-Series Analysis.

    Examples
    --------
    >>> from dynan.systems import lorenz
    >>> system = lorenz()
    >>> system.dim, system.dt
    (3, 0.01)
    """
    return Lorenz(dt, sigma, rho, beta)


def random_rnn(n: int, g: float, seed: int = 0) -> RandomRNN:
    """A random tanh network h' = tanh(W h) with W_ij ~ N(0, g²/n) drawn from ``seed``.

    Parameters
    ----------
    n : int
        Number of units (the state dimension).
    g : float
        Gain; the network is chaotic for large n when g is well above 1.
    seed : int
        Seed of the weight draw (``torch.Generator``), so the same call gives the same W.

    Returns
    -------
    RandomRNN
        An n-dimensional autonomous system, J = diag(1 − h'²) W; ``.weight`` is W.

    Raises
    ------
    SystemError_
        If n is not a positive integer, g is negative or not finite, or seed is not an int.

    Notes
    -----
    Cost per step O(B n²) for the state and O(B n² k) for k tangents; memory O(n²). For g < 1
    every orbit falls to the origin, where J = W, so the exponents are log |eig W|.

    References
    ----------
    Sompolinsky, Crisanti, Sommers (1988), PRL 61, 259–262.

    Examples
    --------
    >>> from dynan.systems import random_rnn
    >>> random_rnn(8, 1.5).weight.shape
    torch.Size([8, 8])
    """
    return RandomRNN(n, g, seed)
