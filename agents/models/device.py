"""Device and dtype choice, and capping a process's share of a GPU."""

from __future__ import annotations

import torch

from agents.errors import ModelLoadError

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str) -> torch.device:
    """``auto`` is CUDA when this process sees a GPU, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} asked for, but this process sees no CUDA GPU")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto``: bfloat16 (or float16 on older GPUs) on CUDA, float32 on CPU."""
    if dtype != "auto":
        return _DTYPES[dtype]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def cap_cuda_memory(fraction: float | None, *, need_bytes: int | None = None, device: torch.device | None = None) -> bool:
    """Cap this process's CUDA allocations to ``fraction`` of the GPU (Ray does not enforce it).

    A no-op returning False on CPU or when ``fraction`` is None/>=1. Raises ModelLoadError
    when ``need_bytes`` (weights plus headroom) does not fit the share, so a replica fails
    loudly at start instead of starving the other replicas on its GPU.
    """
    if fraction is None or not torch.cuda.is_available():
        return False
    if device is not None and device.type != "cuda":
        return False
    if not 0 < fraction <= 1:
        raise ModelLoadError(f"GPU memory fraction must be in (0, 1], got {fraction}")
    index = device.index if device is not None and device.index is not None else torch.cuda.current_device()
    total = torch.cuda.get_device_properties(index).total_memory
    if need_bytes is not None and need_bytes > fraction * total:
        raise ModelLoadError(
            f"the model needs about {need_bytes / 2**30:.2f} GiB but its GPU share is "
            f"{fraction:g} x {total / 2**30:.1f} GiB = {fraction * total / 2**30:.2f} GiB; "
            "raise resources.num_gpus or use num_gpus: auto"
        )
    if fraction >= 1:
        return False
    torch.cuda.set_per_process_memory_fraction(fraction, index)
    return True
