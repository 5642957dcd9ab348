"""Activation memory of a training step: bytes autograd saves for backward.

Measured with `torch.autograd.graph.saved_tensors_hooks`: every tensor saved
during the forward is counted once per storage (views of one buffer share it),
parameters apart, since weights are held whether or not a step saves them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SavedBytes:
    """What a forward saved for backward.

    Attributes:
        activations: bytes of saved tensors that are not parameters.
        parameters: bytes of saved parameters (weights kept for the weight-gradient).
        tensors: how many distinct storages were saved.
    """

    activations: int = 0
    parameters: int = 0
    tensors: int = 0


class SavedTensorCounter:
    """Context manager: counts distinct storages saved for backward inside it.

    Examples:
        >>> with SavedTensorCounter(model) as saved:    # doctest: +SKIP
        ...     loss = model(batch).logits.sum()
        >>> saved.result.activations                    # doctest: +SKIP
    """

    def __init__(self, model: torch.nn.Module | None = None):
        self._param_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()} if model is not None else set()
        self._seen: dict[int, int] = {}
        self.result = SavedBytes()
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in self._seen:
            self._seen[ptr] = storage.nbytes()
            if ptr in self._param_ptrs:
                self.result.parameters += storage.nbytes()
            else:
                self.result.activations += storage.nbytes()
            self.result.tensors += 1
        return t

    def __enter__(self) -> "SavedTensorCounter":
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._ctx.__exit__(*exc)
