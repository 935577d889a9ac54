"""accelsim: a tile-level, cycle-accurate discrete-event simulator of ML accelerators.

Public API lives in :mod:`accelsim.api`::

    from accelsim import api
    result = api.run("archs/tpuv1.yaml", "gpt2-tiny")
    print(result["total_cycles"], result["latency_s"])
"""

__version__ = "0.1.0"

#: The layout version of result.json (its ``schema_version`` key), described by
#: :mod:`accelsim.result_schema`; kept here so writing a result does not import the models.
RESULT_SCHEMA_VERSION = 1
