"""Energy and area: action counts x per-action energies from named technology tables.

* :mod:`~accelsim.energy.counts` -- :class:`ActionCounts`, what the simulator counts.
* :mod:`~accelsim.energy.tables` -- the ``45nm``/``28nm``/``7nm`` tables, with sources.
* :mod:`~accelsim.energy.model` -- :func:`estimate_energy` -> :class:`EnergyReport`.
* :mod:`~accelsim.energy.area` -- :func:`estimate_area` -> :class:`AreaReport`.
"""

from accelsim.energy.area import AreaReport, estimate_area
from accelsim.energy.counts import ActionCounts
from accelsim.energy.model import EnergyReport, estimate_energy
from accelsim.energy.tables import TABLES, TechTable, get_table

__all__ = [
    "TABLES",
    "ActionCounts",
    "AreaReport",
    "EnergyReport",
    "TechTable",
    "estimate_area",
    "estimate_energy",
    "get_table",
]
