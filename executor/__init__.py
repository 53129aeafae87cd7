"""executus's agent runtime: a Python port of the Go executor.

It imports nothing from ``discord``, ``bot`` or ``cogs``; the host plugs in
through the Protocols in :mod:`executor.ports`. The run contract lives in
:mod:`executor.run`.
"""
