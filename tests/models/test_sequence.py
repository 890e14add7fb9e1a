"""The whole-sequence loops (dynan_models.sequence) against the straightforward loop, and the
cost of every backward pass linear in the sequence length (counted, not timed)."""

from __future__ import annotations

import contextlib
import shutil

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from dynan_models import ARCHITECTURES, build, native
from dynan_models.elman import N_MIN

F64 = torch.float64
B, D, N, G = 3, 2, 5, 4
FAST = ("relu", "softplus", "gamma-homogeneous", "gamma-heterogeneous", "arun")


def _net(arch: str, seed: int = 0, size: int = N, controller: int = G):
    torch.manual_seed(seed)
    extra = {"controller_size": controller} if arch == "arun" else {}
    net = build(arch, input_size=D, hidden_size=size, output_size=3, **extra).to(F64)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        if arch.startswith("gamma"):  # shapes far from the initial (n ≈ 6, s = 0)
            net.n.copy_(0.5 + 2 * torch.rand(net.n.shape, generator=gen, dtype=F64))
            net.s.copy_(torch.rand(net.s.shape, generator=gen, dtype=F64))
        if arch == "arun":  # a lively controller whose n crosses the clamp N_MIN
            c = net.controller
            for p in (c.input_weight, c.n_weight, c.s_weight):
                p.copy_(torch.randn(p.shape, generator=gen, dtype=F64))
            c.n_bias.fill_(0.3)
            c.s_bias.fill_(0.4)
    return net


def _run(net, fn: str, x, drive, state0):
    """Outputs and the gradients of a loss touching every output, through ``net.<fn>``."""
    net.zero_grad()
    state = tuple(t.clone().requires_grad_() for t in state0)
    run = getattr(net, fn)(state, net.input_projection(x, drive), trajectories=True)
    weights = torch.linspace(-1, 1, run.hidden.numel(), dtype=F64).view_as(run.hidden)
    loss = (run.hidden * weights).sum() + run.state[-1].pow(2).sum()
    for extra in (run.n, run.s, run.controller):
        if extra is not None:
            loss = loss + extra.sin().sum()
    loss.backward()
    grads = {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}
    grads.update({f"state{i}": t.grad for i, t in enumerate(state)})
    values = {"hidden": run.hidden, "n": run.n, "s": run.s, "controller": run.controller}
    values.update({f"final{i}": t for i, t in enumerate(run.state)})
    return values, grads


def _sequence_equals_loop(net, batch: int, steps: int, drive_scale: float, seed: int):
    """``net.sequence`` against ``net.loop`` from one random start, input and drive: values,
    trajectories and every gradient in float64. Returns the loop's values and the inputs."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, D, generator=gen, dtype=F64)
    drive = drive_scale * torch.randn(batch, steps, net.hidden_size, generator=gen, dtype=F64)
    state0 = tuple(
        0.3 * torch.randn(t.shape, generator=gen, dtype=F64) for t in net.initial_state(batch)
    )
    fast, fast_grads = _run(net, "sequence", x, drive, state0)
    ref, ref_grads = _run(net, "loop", x, drive, state0)
    for key, value in ref.items():
        if value is None:
            assert fast[key] is None, key
        else:
            torch.testing.assert_close(fast[key], value, rtol=1e-10, atol=1e-12, msg=key)
    assert fast_grads.keys() == ref_grads.keys()
    for key, value in ref_grads.items():
        torch.testing.assert_close(fast_grads[key], value, rtol=1e-9, atol=1e-11, msg=key)
    return ref, (state0, x, drive)


@pytest.mark.parametrize("arch", FAST)
def test_fast_sequence_equals_straightforward_loop_values_and_gradients(arch, step):
    net = _net(arch)
    ref, _ = _sequence_equals_loop(net, B, 23, 0.7, seed=7)
    if arch == "arun":  # the clamp of n was active somewhere, and inactive elsewhere
        raw_n = net.controller.readout(ref["controller"])[0]
        assert (raw_n == N_MIN).any() and (raw_n > N_MIN).any()


@pytest.fixture(params=["compiled", "compiled-in-parts", "pytorch"])
def step(request, monkeypatch):
    """The whole-sequence loops through the compiled steps of ARUN and the γ activation
    (dynan_models.native) — on one thread, or split into parts that threads run at once — or
    their PyTorch steps; the compiled ones must be available wherever a C++ compiler is."""
    if request.param == "pytorch":
        with native.pytorch_step():
            yield request.param
        return
    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        pytest.skip("no C++ compiler here: only the PyTorch steps exist")
    assert native.status()[0], native.status()[1]  # a compiler but no compiled steps: a bug
    if request.param == "compiled-in-parts":  # every vector of neurons may be a part
        monkeypatch.setattr(native, "MIN_VECTORS", 1)
        threads = torch.get_num_threads()
        torch.set_num_threads(3)
        try:
            yield request.param
        finally:
            torch.set_num_threads(threads)
    else:
        yield request.param


# batch, units, controller: the compiled step works on vectors of 4 (float64) neurons, its
# matrix products on blocks of 8 controller units: tails of both, and the paper's G = 50
ARUN_SIZES = [(3, 5, 4), (2, 7, 13), (1, 3, 1), (2, 10, 50)]


@pytest.mark.parametrize(("batch", "size", "controller"), ARUN_SIZES)
def test_arun_steps_equal_the_straightforward_loop(step, batch, size, controller):
    # values, trajectories and every gradient (through the trajectories too) in float64
    net = _net("arun", seed=batch + size, size=size, controller=controller)
    ref, (state0, x, drive) = _sequence_equals_loop(net, batch, 17, 0.5, seed=11)
    with torch.no_grad():  # the forward without a gradient keeps the same trajectories
        run = net.sequence(state0, net.input_projection(x, drive), trajectories=True)
    for key in ("hidden", "n", "s", "controller"):
        torch.testing.assert_close(getattr(run, key), ref[key], rtol=1e-10, atol=1e-12, msg=key)


@pytest.mark.parametrize("switched", ["off-in-forward", "off-in-backward"])
def test_arun_backward_follows_the_step_its_forward_took(switched):
    # the two loops save their states in different layouts: a backward that chose its loop
    # afresh (after pytorch_step() ended, or began) would read the other loop's buffers
    if not native.status()[0]:
        pytest.skip(f"no compiled step here: {native.status()[1]}")
    net = _net("arun", seed=4)
    x = torch.randn(2, 9, D, dtype=F64)
    state0 = tuple(0.1 * torch.ones(t.shape, dtype=F64) for t in net.initial_state(2))
    _, ref_grads = _run(net, "loop", x, None, state0)
    with native.pytorch_step() if switched == "off-in-forward" else contextlib.nullcontext():
        net.zero_grad()
        state = tuple(t.clone().requires_grad_() for t in state0)
        run = net.sequence(state, net.input_projection(x), trajectories=True)
        weights = torch.linspace(-1, 1, run.hidden.numel(), dtype=F64).view_as(run.hidden)
        loss = (run.hidden * weights).sum() + run.state[-1].pow(2).sum()
        loss = loss + run.n.sin().sum() + run.s.sin().sum() + run.controller.sin().sum()
    with native.pytorch_step() if switched == "off-in-backward" else contextlib.nullcontext():
        loss.backward()
    params = dict(net.named_parameters())
    assert "recurrent_weight" in ref_grads and "controller.recurrent_weight" in ref_grads
    for key, grad in ref_grads.items():
        got = params[key].grad if key in params else state[int(key[-1])].grad
        torch.testing.assert_close(got, grad, rtol=1e-9, atol=1e-11, msg=key)


def test_parts_of_a_step_are_vector_aligned_and_cover_every_neuron(monkeypatch):
    monkeypatch.setattr(native, "MIN_VECTORS", 1)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        assert native.parts(15, 4) == [(0, 4), (4, 12), (12, 15)]
        assert native.parts(8, 8) == [(0, 8)]  # one vector: one part
        torch.set_num_threads(1)
        assert native.parts(6400, 8) == [(0, 6400)]
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("arch", ["arun", "gamma-heterogeneous", "gamma-homogeneous", "softplus"])
def test_compiled_step_equals_pytorch_step_in_float32(arch):
    # training precision: the two steps differ by rounding only (a few float32 ulp)
    torch.manual_seed(5)
    extra = {"controller_size": 16} if arch == "arun" else {}
    net = build(arch, input_size=D, hidden_size=9, output_size=3, **extra)
    x, y = torch.rand(5, 60, D), torch.tensor([0, 1, 2, 1, 0])

    def gradients():
        net.zero_grad()
        logits = net(x).logits
        torch.nn.functional.cross_entropy(logits, y).backward()
        return logits.detach(), {k: p.grad.clone() for k, p in net.named_parameters()}

    compiled, compiled_grads = gradients()
    with native.pytorch_step():
        reference, reference_grads = gradients()
    torch.testing.assert_close(compiled, reference, rtol=1e-5, atol=1e-6)
    for key, value in reference_grads.items():
        scale = value.abs().max().clamp_min(1e-6)
        assert (compiled_grads[key] - value).abs().max() / scale < 1e-4, key


@pytest.mark.parametrize("arch", FAST)
def test_fast_sequence_without_gradients_equals_the_loop(arch):
    net = _net(arch, seed=3)
    x = torch.randn(2, 11, D, dtype=F64)
    with torch.no_grad():
        fast = net(x, return_trajectories=True)
        state = net.initial_state(2, dtype=F64)
        ref = net.loop(state, net.input_projection(x), trajectories=True)
    torch.testing.assert_close(fast.hidden, ref.hidden, rtol=1e-12, atol=1e-14)
    for got, want in zip(fast.state, ref.state, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)


def test_float32_gradients_match_float64():
    # the float32 path (used in training) agrees with the float64 reference to float32 accuracy
    net64 = _net("arun")
    net32 = _net("arun").float()
    x = torch.rand(4, 40, D, dtype=F64)
    y = torch.tensor([0, 1, 2, 1])
    for net, xx in ((net64, x), (net32, x.float())):
        torch.nn.functional.cross_entropy(net(xx).logits, y).backward()
    for (name, p64), p32 in zip(net64.named_parameters(), net32.parameters(), strict=True):
        scale = p64.grad.abs().max().clamp_min(1e-6)
        assert (p32.grad.double() - p64.grad).abs().max() / scale < 1e-3, name


class _CountElements(TorchDispatchMode):
    """Sums the elements of every tensor an aten op produces while active."""

    def __init__(self):
        super().__init__()
        self.elements = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, tuple | list) else (out,):
            if isinstance(t, torch.Tensor):
                self.elements += t.numel()
        return out


def _backward_elements(arch: str, steps: int, how: str) -> int:
    net = build(arch, input_size=1, hidden_size=4, output_size=2, **(
        {"controller_size": 3} if arch == "arun" else {}
    ))  # fmt: skip
    x = torch.rand(2, steps, 1)
    drive = torch.zeros(2, steps, 4) if how == "drive" else None
    if how == "select":  # the pre-issue-11 loop: inp[:, t] per step (quadratic backward)
        inp, state = net.input_projection(x), net.initial_state(2)
        for t in range(steps):
            state = net.recur(state, inp[:, t])
        loss = net.hidden(state).sum()
    elif how == "loop":
        run = net.loop(net.initial_state(2), net.input_projection(x))
        loss = run.hidden[:, -1].sum()
    else:
        loss = net(x, drive).logits.sum()
    with _CountElements() as counter:
        loss.backward()
    return counter.elements


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("how", ["forward", "drive", "loop"])
def test_backward_work_is_linear_in_sequence_length(arch, how):
    # elements produced by the backward: linear in T doubles with T, quadratic quadruples;
    # through the compiled steps (whose own work the count does not see: it is one call per
    # step) and through the PyTorch steps
    if how == "loop" and arch in ("gru", "lstm"):
        pytest.skip("the gated networks' loop is what their drive path runs")
    for pytorch in (False, True):
        with native.pytorch_step() if pytorch else contextlib.nullcontext():
            small, large = (_backward_elements(arch, t, how) for t in (60, 120))
        assert large / small < 2.3, (pytorch, small, large)


def test_the_element_count_detects_a_quadratic_backward():
    small, large = (_backward_elements("relu", t, "select") for t in (60, 120))
    assert large / small > 3.0, (small, large)
