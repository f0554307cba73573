"""Teacher signals: JSD step boundaries, input attention fraction, operands, clause expansion.

Built on `mycelium.solver` (quantities, parser) and `mycelium.data` (records).
"""
