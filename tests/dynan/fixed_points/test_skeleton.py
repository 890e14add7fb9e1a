"""The heteroclinic skeleton: saddles connect to the attractors their unstable manifolds reach."""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest
import torch
from scipy.optimize import brentq

from dynan.fixed_points import find_fixed_points, fixed_point_graph, heteroclinic_connections
from dynan.system import CallableSystem

DT = 0.1


def _double_well_2d(x, u):
    """x' = x + dt (x − x³), y' = y / 2: wells at (±1, 0), a saddle at the origin."""
    return torch.stack([x[:, 0] + DT * (x[:, 0] - x[:, 0] ** 3), 0.5 * x[:, 1]], 1)


@pytest.fixture(scope="module")
def double_well():
    system = CallableSystem(_double_well_2d, dim=2, name="double well")
    return system, find_fixed_points(system, n_inits=128)


def test_double_well_saddle_connects_to_both_wells(double_well):
    _, fp = double_well
    graph = fp.graph()
    assert isinstance(graph, nx.DiGraph) and graph.number_of_nodes() == 3
    saddle = fp.kinds.index("saddle-1")
    wells = [i for i in range(3) if fp.is_stable[i]]
    np.testing.assert_allclose(sorted(fp.states[wells, 0]), [-1.0, 1.0], atol=1e-14)
    np.testing.assert_allclose(fp.states[saddle], [0.0, 0.0], atol=1e-14)
    assert sorted(graph.successors(saddle)) == sorted(wells)
    assert graph.number_of_edges() == 2 and graph.in_degree(saddle) == 0
    # J at the saddle: diag(1 + dt, 1/2); the unstable direction is the x axis
    np.testing.assert_allclose(np.abs(fp.eigenvalues[saddle]), [1 + DT, 0.5], atol=1e-14)
    for well in wells:
        edge = graph.edges[saddle, well]
        assert edge["n_paths"] == 1 and edge["mode"] == 0
        assert np.sign(fp.states[well, 0]) == edge["sign"] * np.sign(
            fp.eigenvectors[saddle, 0, 0].real
        )
        # the orbit runs monotonically along the x axis: arc length ≈ 1 − ε − arrival radius
        assert 1 - 0.02 * fp.scale < edge["length"] < 1.0
        assert 10 < edge["steps"] < 2000
    node = graph.nodes[saddle]
    assert node["kind"] == "saddle-1" and node["n_unstable"] == 1 and node["unresolved"] == 0
    assert node["max_abs_eigenvalue"] == pytest.approx(1 + DT, abs=1e-14)


def test_double_well_1d_unstable_point_connects_to_both_wells():
    system = CallableSystem(lambda x, u: x + DT * (x - x**3), dim=1)
    fp = find_fixed_points(system, n_inits=64)
    graph = fp.graph()
    middle = fp.kinds.index("unstable")  # 1-D: the one direction is unstable
    assert sorted(graph.successors(middle)) == [i for i in range(3) if fp.is_stable[i]]


def test_roll_network_saddle_paths_symmetric():
    base = torch.linspace(-1.0, 1.0, 2, dtype=torch.float64)
    weight = -torch.stack([torch.roll(base, -i) for i in range(2)])
    system = CallableSystem(lambda h, u: torch.tanh(h @ weight.T), dim=2)
    fp = find_fixed_points(system, n_inits=128)
    links = fp.connections
    assert links.source.tolist() == [2, 2] and sorted(links.target.tolist()) == [0, 1]
    assert links.steps[0] == links.steps[1]  # h ↦ −h symmetry
    np.testing.assert_allclose(links.length[0], links.length[1], rtol=1e-12)
    root = brentq(lambda x: np.tanh(2 * x) - x, 0.5, 1.5)
    # the line h₂ = −h₁ is invariant, so the path is straight from 0 towards ±x*(1, −1)
    assert np.sqrt(2) * root - 0.02 * fp.scale < links.length[0] < np.sqrt(2) * root
    slow = len(fp.slow_points)
    assert fp.summary() == (
        f"3 fixed points (2 stable, 1 saddle), max q {fp.q.max():.1e}, "
        f"{slow} slow point{'' if slow == 1 else 's'}, 2 saddle→attractor connections"
    )


def test_bistable_units_each_saddle_1_connects_to_its_two_corners():
    system = CallableSystem(lambda h, u: torch.tanh(2 * h), dim=3)
    fp = find_fixed_points(system)
    graph = fp.graph()
    for i in np.flatnonzero(fp.n_unstable == 1):
        targets = sorted(graph.successors(i))
        assert len(targets) == 2 and all(fp.is_stable[targets])
        # the two corners differ from the saddle only in its zero coordinate
        zero = np.flatnonzero(np.abs(fp.states[i]) < 1e-12)[0]
        for j in targets:
            keep = np.arange(3) != zero
            np.testing.assert_allclose(fp.states[j, keep], fp.states[i, keep], atol=1e-12)
        assert np.sign(fp.states[targets[0], zero]) == -np.sign(fp.states[targets[1], zero])


def test_orbits_that_reach_no_attractor_are_unresolved():
    """x' = 2x has one unstable point and no attractor: the orbits leave for ever."""
    system = CallableSystem(lambda x, u: 2 * x, dim=1)
    fp = find_fixed_points(system, inits=[[0.3], [-0.2]], connect=False)
    links = heteroclinic_connections(system, fp, max_steps=50)
    assert links.target.tolist() == [-1, -1] and links.steps.tolist() == [50, 50]
    graph = fixed_point_graph(dataclasses.replace(fp, connections=links))
    assert graph.nodes[0]["unresolved"] == 2 and graph.number_of_edges() == 0


def test_graph_without_connections_has_nodes_only(double_well):
    _, fp = double_well
    graph = fp.select(np.arange(len(fp))).graph()
    assert graph.number_of_nodes() == 3 and graph.number_of_edges() == 0


def test_connections_only_within_the_same_input():
    """Two inputs shift the wells; a saddle never connects to a well of the other input."""
    system = CallableSystem(
        lambda x, u: x + DT * (x - x**3 + u), dim=1, input_dim=1, name="tilted well"
    )
    fp = find_fixed_points(system, inputs=[[0.0], [0.1]], n_inits=64)
    graph = fp.graph()
    for i, j in graph.edges:
        assert fp.inputs[i, 0] == fp.inputs[j, 0]
    assert graph.number_of_edges() == 4  # each input: the middle point to both wells
