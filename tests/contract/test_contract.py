"""The solver contract: every registered (solver, problem) pair passes the same checks.

Areas register cases in ``tests/contract/cases_<area>.py`` as ``CASES``.
"""

import importlib
import pkgutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optlib
from optlib._testing import ContractCase, assert_trees_allclose, count_compilations


def _discover() -> list[ContractCase]:
    cases = []
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if info.name.startswith("cases_"):
            module = importlib.import_module(f"tests.contract.{info.name}")
            cases.extend(module.CASES)
    return cases


CASES = _discover()
ids = [c.name for c in CASES]


def _run(case: ContractCase, solver, params, args, **kwargs):
    key = jax.random.key(0) if case.needs_key else None
    return optlib.run(solver, params, *args, key=key, max_steps=case.max_steps, **kwargs)


def _check(case: ContractCase, result, solution, atol=None):
    if case.check is not None:
        case.check(result, solution)
    else:
        assert_trees_allclose(result.params, solution, rtol=0, atol=atol or case.atol,
                              err_msg=case.name)


def _cast(tree, dtype):
    return jax.tree.map(
        lambda x: x.astype(dtype) if jnp.issubdtype(jnp.result_type(x), jnp.floating) else x,
        tree)


def test_registry_is_not_empty():
    assert len(CASES) >= 3


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_converges(case):
    params, args, solution = case.make_problem(0)
    result = _run(case, case.solver, params, args)
    assert optlib.Status(int(result.status)) is optlib.Status.SUCCESS, (
        optlib.Status(int(result.status)).message)
    assert 0 < int(result.num_steps) <= case.max_steps
    _check(case, result, solution)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_jit_and_no_recompilation(case):
    params, args, solution = case.make_problem(0)
    v0, v1 = case.hyperparameter_values
    first = case.with_hyperparameter(case.solver, v0)
    second = case.with_hyperparameter(case.solver, v1)
    _run(case, first, params, args)  # compile
    with count_compilations() as compilations:
        result = _run(case, second, params, args)
        jax.block_until_ready(result.params)
    assert compilations() == 0, "changing a hyperparameter value recompiled the run loop"
    _check(case, result, solution)
    # The run also composes with an outer jit.
    jitted = jax.jit(lambda p, a: _run(case, case.solver, p, a).params)
    _check(case, result._replace(params=jitted(params, args)), solution)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_vmap_over_problems(case):
    problems = [case.make_problem(seed) for seed in range(3)]
    stack = lambda *xs: jnp.stack(xs)  # noqa: E731
    params = jax.tree.map(stack, *[p[0] for p in problems])
    args = jax.tree.map(stack, *[p[1] for p in problems])
    results = jax.vmap(lambda p, a: _run(case, case.solver, p, a))(params, args)
    assert np.all(np.asarray(results.status) == int(optlib.Status.SUCCESS))
    for i, (_, _, solution) in enumerate(problems):
        _check(case, jax.tree.map(lambda x, i=i: x[i], results), solution)


@pytest.mark.parametrize("case", CASES, ids=ids)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_dtype_is_preserved(case, dtype):
    params, args, solution = case.make_problem(0)
    params, args = _cast(params, dtype), _cast(args, dtype)
    result = _run(case, case.solver, params, args)
    for leaf, ref in zip(jax.tree.leaves(result.params), jax.tree.leaves(params)):
        assert leaf.dtype == ref.dtype
    atol = case.float32_atol if dtype == jnp.float32 else case.atol
    _check(case, result, _cast(solution, dtype), atol=atol)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_nonfinite_input_gives_status(case):
    params, args, _ = case.make_problem(0)
    leaves, treedef = jax.tree.flatten(params)
    float_index = next(i for i, x in enumerate(leaves)
                       if jnp.issubdtype(jnp.result_type(x), jnp.floating))
    leaves[float_index] = jnp.full_like(leaves[float_index], jnp.nan)
    result = _run(case, case.solver, jax.tree.unflatten(treedef, leaves), args)
    assert optlib.Status(int(result.status)) is optlib.Status.NONFINITE
    assert int(result.num_steps) == 0


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_nonfinite_data_gives_status_or_error(case):
    params, args, _ = case.make_problem(0)
    leaves, treedef = jax.tree.flatten(args)
    float_index = [i for i, x in enumerate(leaves)
                   if jnp.issubdtype(jnp.result_type(x), jnp.floating)]
    if not float_index:
        pytest.skip("problem has no floating-point data")
    leaves[float_index[0]] = jnp.full_like(leaves[float_index[0]], jnp.nan)
    try:
        result = _run(case, case.solver, params, jax.tree.unflatten(treedef, leaves))
    except ValueError as err:
        assert str(err), "the ValueError must say what is wrong"
        return
    assert optlib.Status(int(result.status)) is optlib.Status.NONFINITE
