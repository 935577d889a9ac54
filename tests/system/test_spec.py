"""The ``system:`` block of an architecture: defaults, ranges and cross-field rules."""

from __future__ import annotations

import pytest

from accelsim import api
from accelsim.arch.spec import InterconnectSpec, SystemSpec
from accelsim.errors import SpecError


def test_chips_alone_is_a_valid_system_with_documented_defaults() -> None:
    a = api.load_arch("datacenter-bf16", ["system.chips=8"])
    assert a.system == SystemSpec(chips=8)
    ic = a.system_spec.interconnect
    assert (ic.topology, ic.link_bandwidth_gbps, ic.links_per_chip, ic.latency_ns) == ("ring", 25.0, 6, 500.0)
    # no system block: one chip, and the arch dumps as before (digests unchanged)
    plain = api.load_arch("datacenter-bf16")
    assert plain.system is None and plain.system_spec.chips == 1
    from accelsim.arch.load import arch_to_dict

    assert "system" not in arch_to_dict(plain)
    assert InterconnectSpec.model_fields["latency_ns"].description


@pytest.mark.parametrize("sets,fragment", [
    (["system.chips=0"], "system.chips: must be > 0"),
    (["system.chips=8", "system.interconnect.latency_ns=-1"], "system.interconnect.latency_ns: must be >= 0"),
    (["system.chips=8", "system.interconnect.topology=mesh"], "system.interconnect.topology"),
    (["system.chips=8", "system.interconnect.topology=fully_connected"],
     "system.interconnect.links_per_chip: fully_connected over 8 chips needs at least 7 links per chip"),
    (["system.chips=7", "system.interconnect.topology=torus2d"], "system.chips: torus2d needs chips = X x Y"),
    (["system.chips=16", "system.interconnect.topology=torus2d", "system.interconnect.links_per_chip=2"],
     "a 4x4 torus needs at least 4 links per chip"),
    (["system.chips=4", "system.interconnect.links_per_chip=1"], "a ring of 4 chips needs at least 2 links"),
    (["system.chipz=4"], "system.chipz: unknown key"),
])
def test_bad_systems_name_the_yaml_path(sets: list[str], fragment: str) -> None:
    with pytest.raises(SpecError) as e:
        api.load_arch("datacenter-bf16", sets)
    assert fragment in str(e.value)
    assert e.value.exit_code == 2
