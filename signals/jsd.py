"""Jensen-Shannon divergence between consecutive CoT positions' attention distributions.

A computation step of a chain-of-thought attends to its own part of the context (the problem
sentence it is working on, the result it just computed); where one step ends and the next begins,
the attention distribution jumps. `jsd_series` measures that jump for every pair of consecutive
query rows; `mycelium.signals.boundaries` finds its peaks.

    JSD(P, Q) = ½·KL(P ‖ M) + ½·KL(Q ‖ M),   M = (P + Q) / 2,   KL(P ‖ M) = Σ p·log₂(p / m)

in bits, so 0 ≤ JSD ≤ 1: 0 for identical distributions, 1 for disjoint supports. It equals
`scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2`. Terms with p = 0 are exactly 0
(0·log 0 = 0), so attention that underflowed to 0 needs no epsilon.

Row r+1 sees one key more than row r (itself), so the two rows are compared over the keys both
can see, 0..query_positions[r], each renormalised to sum 1 there; otherwise every pair would
differ by the new key's mass whether or not the focus moved.
"""

from __future__ import annotations

import numpy as np
from scipy.special import rel_entr

# Rows are processed in blocks of about this many matrix cells (32 MiB per float64 temporary), so
# a 4096-token CoT over a 5000-key context never needs several [4096, 5000] temporaries at once.
_BLOCK_CELLS = 1 << 22


def jsd_series(attn: np.ndarray, query_positions: np.ndarray | None = None) -> np.ndarray:
    """JSD in bits between attention rows r and r+1 over their common keys; shape [n_q - 1].

    `attn[r]` is the attention distribution of query position `query_positions[r]` over keys
    0..K-1 (keys after the query position are 0). By default the rows are the last n_q positions
    of the sequence, `query_positions[r] = K - n_q + r`: the CoT rows `full_attn[prompt_len:]`
    of a square [K, K] capture. Positions must be strictly increasing, so the common keys of
    rows r and r+1 are 0..query_positions[r]. A row with no attention mass on them (the next token
    attending only to itself, say, after half-precision underflow) shares nothing with its
    neighbour: that pair scores 1, the maximum.
    """
    attn = np.asarray(attn)  # cast per block below: a float16/32 capture is never copied whole
    if attn.ndim != 2:
        raise ValueError(f"attn must be 2-D [n_queries, n_keys], got shape {attn.shape}")
    n_queries, n_keys = attn.shape
    positions = _query_positions(query_positions, n_queries, n_keys)
    if attn.dtype.kind not in "fiu":
        raise ValueError(f"attn must hold real numbers, got dtype {attn.dtype}")
    if not np.all(np.isfinite(attn)) or np.any(attn < 0):
        raise ValueError("attn must be finite and non-negative")
    series = np.empty(max(n_queries - 1, 0))
    rows_per_block = max(1, _BLOCK_CELLS // max(n_keys, 1))
    for start in range(0, n_queries - 1, rows_per_block):
        stop = min(start + rows_per_block, n_queries - 1)
        series[start:stop] = _pairwise_jsd(
            attn[start:stop], attn[start + 1:stop + 1], positions[start:stop])
    return series


def _query_positions(query_positions: np.ndarray | None, n_queries: int, n_keys: int) -> np.ndarray:
    if query_positions is None:
        if n_queries > n_keys:
            raise ValueError(f"{n_queries} query rows cannot all fit in {n_keys} keys")
        return np.arange(n_keys - n_queries, n_keys)
    positions = np.asarray(query_positions)
    if positions.shape != (n_queries,) or not np.issubdtype(positions.dtype, np.integer):
        raise ValueError(f"query_positions must be {n_queries} integers, got "
                         f"{positions.dtype} array of shape {positions.shape}")
    if np.any(np.diff(positions) <= 0):
        raise ValueError("query_positions must be strictly increasing")
    if n_queries and (positions[0] < 0 or positions[-1] >= n_keys):
        raise ValueError(f"query_positions must lie in 0..{n_keys - 1}")
    return positions


def _pairwise_jsd(p: np.ndarray, q: np.ndarray, last_common_key: np.ndarray) -> np.ndarray:
    """JSD in bits between p[i] and q[i] restricted to keys 0..last_common_key[i]."""
    # Keys no row of this block can see contribute nothing; dropping them keeps a block of early
    # rows of a triangular matrix from paying for the whole width.
    width = int(last_common_key.max()) + 1
    common = np.arange(width) <= last_common_key[:, None]
    p = np.where(common, p[:, :width].astype(np.float64), 0.0)
    q = np.where(common, q[:, :width].astype(np.float64), 0.0)
    p_mass = p.sum(axis=1, keepdims=True)
    q_mass = q.sum(axis=1, keepdims=True)
    p /= np.where(p_mass > 0, p_mass, 1.0)
    q /= np.where(q_mass > 0, q_mass, 1.0)
    mixture = (p + q) / 2
    # rel_entr(x, m) = x·ln(x/m) with rel_entr(0, m) = 0 exactly; m > 0 wherever x > 0.
    nats = (rel_entr(p, mixture).sum(axis=1) + rel_entr(q, mixture).sum(axis=1)) / 2
    bits = np.clip(nats / np.log(2), 0.0, 1.0)  # clip: rounding may leave -1e-17 or 1 + 1e-16
    no_overlap = (p_mass[:, 0] == 0) | (q_mass[:, 0] == 0)
    return np.where(no_overlap, 1.0, bits)
