"""Every shipped workload passes the functional check on an int8 and a float architecture.

Reduced sizes keep the suite fast; the shapes still exercise every op kind of each workload (the
TopK SAE's sparse decoder on the vector unit, the Gated SAE's Heaviside gate, the partitioned
transformer's ports and its layer0 controller). The full-size runs are in the closing notes:
``accelsim run archs/<arch>.yaml <workload> --check``.
"""

from __future__ import annotations

import functools

import pytest

torch = pytest.importorskip("torch")

from accelsim import api  # noqa: E402
from builders import SMALL_WORKLOADS as WORKLOADS  # noqa: E402

torch.set_num_threads(1)
ARCHS = {"edge-int8": "int8-exact", "datacenter-bf16": "bf16-fp32acc", "partitioned-residual": "bf16-fp32acc"}


@functools.cache
def _traced(name: str):  # type: ignore[no-untyped-def]
    return api.load_traced(name, WORKLOADS[name])


@pytest.mark.parametrize("arch_name", ["edge-int8", "datacenter-bf16"])
@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_check_passes(name: str, arch_name: str) -> None:
    t = _traced(name)
    arch = api.load_arch(arch_name)
    res = api.simulate(arch, t.graph, api.RunOptions(gpu=None, energy=False))
    chk = api.check(res, t, level="all")
    assert chk["passed"], chk["first_failure"]
    assert chk["scheme"] == ARCHS[arch_name]
    # level="all": every op's output of the mapped (lowered) graph was checked, by one piece or
    # several; fused chains keep their intermediates on chip, so they have none of their own
    checked = {row["tensor"] for row in chk["tensors"] if row["passed"]}
    assert {op.outputs[0] for op in res.program.graph.ops} <= checked
    if ARCHS[arch_name] == "int8-exact":
        vs = chk["vs_fp32"]
        assert vs is not None and vs["max_rel_err"] < 0.5 and vs["int32_overflows"] == 0


def test_partitioned_transformer_on_its_own_arch() -> None:
    t = _traced("partitioned-transformer")
    arch = api.load_arch("partitioned-residual")
    res = api.simulate(arch, t.graph, api.RunOptions(gpu=None, energy=False, rom_compare=False, enforce=True))
    assert res["policy_violations"] == []
    assert api.check(res, t)["passed"]
