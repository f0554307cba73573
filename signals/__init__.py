"""Teacher signals: JSD step boundaries, input attention fraction, operand matching, clause expansion.

Built on `mycelium.solver` (quantities, parser) and `mycelium.data` (records).
"""
