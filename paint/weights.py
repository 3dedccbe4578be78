"""Where pretrained weights come from (docs/DESIGN.md, "Pretrained weights"): nothing is ever downloaded.

A weight file is found at an explicit path, else in the torch hub cache
(`$TORCH_HOME/hub/checkpoints/<file>`, where torchvision puts it on any machine with internet). When neither
has it, `MissingWeightsError` says in one line which file is missing, where it looked and how to stage it.
Files are read as plain state dicts only (safetensors, or `torch.load(weights_only=True)`), and `sha256_of`
lets scores and logs record exactly which weights were used.
"""
from __future__ import annotations

import functools
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch

from paint.io import sha256_file


class WeightsError(ValueError):
    """A weight file is unknown, unreadable or not a state dict; the message is one line naming it and the fix."""


class MissingWeightsError(WeightsError):
    """A weight file is not where it was looked for; the message names the file, the places and how to stage it."""


@dataclass(frozen=True)
class KnownWeights:
    """A weight file the project knows by name."""
    name: str            # short name used in configs and logs ("vgg19")
    filename: str        # file name in the torch hub cache (torchvision's name, hash prefix included)
    description: str     # what the file is, for messages
    url: str = ""        # where an online machine gets it (for the staging hint only; never fetched here)
    sha256_prefix: str = ""  # leading hex of the official file's sha256 ("" = unknown)


_REGISTRY: dict[str, KnownWeights] = {}


def register_weights(entry: KnownWeights) -> KnownWeights:
    """Add `entry` to the registry (e.g. LPIPS linear layers); re-registering the same entry is a no-op."""
    old = _REGISTRY.get(entry.name)
    if old is not None and old != entry:
        raise WeightsError(f"weights name {entry.name!r} is already registered as {old.filename!r}; "
                           f"choose another name")
    _REGISTRY[entry.name] = entry
    return entry


def known_weights() -> dict[str, KnownWeights]:
    """Name → entry for every registered weight file (a copy)."""
    return dict(_REGISTRY)


register_weights(KnownWeights(
    "vgg19", "vgg19-dcbb9e9d.pth", "torchvision ImageNet VGG19",
    "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "dcbb9e9d"))
register_weights(KnownWeights(
    "alexnet", "alexnet-owt-7be5be79.pth", "torchvision ImageNet AlexNet",
    "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "7be5be79"))


def hub_checkpoint_dir() -> Path:
    """The torch hub cache's checkpoint folder (honours $TORCH_HOME, $XDG_CACHE_HOME and torch.hub.set_dir)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _entry(name: str) -> KnownWeights:
    if name not in _REGISTRY:
        raise WeightsError(f"unknown weights {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def resolve_weights(name: str, path: str | os.PathLike | None = None, *, path_option: str | None = None) -> Path:
    """Find the weight file registered as `name`; never downloads.

    `path` (explicit, must exist) wins; else `<torch hub dir>/checkpoints/<filename>`. `path_option` is how the
    caller's user passes a path (e.g. "loss.vgg_weights=…"), quoted in the error message.
    Returns the file's absolute path; raises MissingWeightsError (one line) when it is not found.
    """
    entry = _entry(name)
    how_to_pass = f"set {path_option}=<path>" if path_option else "pass its path explicitly"
    if path is not None and str(path) != "":
        explicit = Path(path).expanduser()
        if explicit.is_file():
            return explicit.resolve()
        raise MissingWeightsError(
            f"{entry.description} weights not found at the given path {str(explicit)!r}; "
            f"check the path, or copy {entry.filename} there ({how_to_pass})")
    cached = hub_checkpoint_dir() / entry.filename
    if cached.is_file():
        return cached.resolve()
    source = f"; source {entry.url}" if entry.url else ""
    raise MissingWeightsError(
        f"{entry.description} weights {entry.filename} are missing: searched {str(cached)!r}; "
        f"copy {entry.filename} from a machine with internet (torchvision downloads it to "
        f"~/.cache/torch/hub/checkpoints{source}) into {str(cached.parent)!r} "
        f"(or point TORCH_HOME at a folder whose hub/checkpoints holds it), or {how_to_pass}")


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a flat state dict (name → tensor) on the CPU without unpickling arbitrary objects.

    `.safetensors` files are read with safetensors; anything else with `torch.load(weights_only=True)`.
    Raises WeightsError (one line) for a missing or unreadable file, a pickle holding non-tensor objects, or
    contents that are not a mapping of names to tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"weight file {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsError(f"weight file {str(path)!r} is not a readable safetensors file "
                               f"({_first_line(exc)})") from None
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            reason = _unpickler_reason(exc)
            if "Unsupported global" in reason:
                # weights_only refuses anything but tensors and plain containers: say so instead of unpickling.
                raise WeightsError(f"weight file {str(path)!r} holds Python objects other than tensors and is "
                                   f"refused (only weights_only loading is allowed); re-save it as a plain state "
                                   f"dict or .safetensors ({reason[:160]})") from None
            raise WeightsError(f"weight file {str(path)!r} is not a readable torch file ({reason[:160]})") from None
        except Exception as exc:  # a damaged file can fail anywhere inside the unpickler (IndexError, EOFError…)
            raise WeightsError(f"weight file {str(path)!r} is not a readable torch file "
                               f"({_first_line(exc)})") from None
    return _check_state_dict(state, path)


def _check_state_dict(state: object, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(state, dict):
        raise WeightsError(f"weight file {str(path)!r} holds a {type(state).__name__}, not a state dict "
                           f"(a mapping of parameter names to tensors)")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise WeightsError(f"weight file {str(path)!r} is not a flat state dict: entry {key!r} is a "
                               f"{type(value).__name__}, not a tensor (save model.state_dict() itself)")
    return dict(state)


def _unpickler_reason(exc: BaseException) -> str:
    """The useful part of torch's long weights_only error (its advice to unpickle anyway is left out)."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        tail = [line.strip() for line in text.split(marker, 1)[1].splitlines() if line.strip()]
        if tail:
            return tail[0].split(" was not an allowed global")[0]
    first = _first_line(exc)
    return "refused by weights_only loading" if "weights_only" in first or "can still be loaded" in first else first


def load_failure(exc: BaseException) -> str:
    """Why torch.load(weights_only=True) failed, in a few words, never repeating torch's advice to load unsafely."""
    if isinstance(exc, pickle.UnpicklingError):
        return f"it holds Python objects other than tensors, which are never unpickled ({_unpickler_reason(exc)[:160]})"
    return f"damaged or not a torch file ({type(exc).__name__}: {_unpickler_reason(exc)[:160]})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, cached by (absolute path, modification time, size) so repeated calls are free."""
    path = Path(path).resolve()
    stat = path.stat()
    return _sha256_cached(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _sha256_cached(path: str, mtime_ns: int, size: int) -> str:
    return sha256_file(path)


def is_official(name: str, path: str | os.PathLike) -> bool | None:
    """Whether `path` is the official file registered as `name` (sha256 prefix match); None when unknown."""
    entry = _entry(name)
    if not entry.sha256_prefix:
        return None
    return sha256_of(path).startswith(entry.sha256_prefix)
