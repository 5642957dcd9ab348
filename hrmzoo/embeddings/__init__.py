"""Input embeddings: tokens, per-puzzle prefix, positions."""

from hrmzoo.embeddings import token  # noqa: F401  (registers)
from hrmzoo.embeddings.token import EmbeddingConfig, TokenEmbedding

__all__ = ["EmbeddingConfig", "TokenEmbedding"]
