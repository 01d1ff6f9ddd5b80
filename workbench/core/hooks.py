"""Hook points and the hook API (TransformerLens-compatible names and call shapes).

Every interesting tensor passes through an identity `HookPoint`. Forward hooks may read or
replace the tensor (`fn(tensor, hook) -> tensor | None`); backward hooks see its gradient.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from torch import Tensor, nn

from workbench.core.registry import suggest

HookFn = Callable[..., Tensor | None]
NameOrFilter = str | Callable[[str], bool]


class HookPoint(nn.Module):
    """Identity module that runs the hooks attached to it.

    Example:
        >>> hp = HookPoint(); hp.name = "demo"
        >>> hp.add_hook(lambda x, hook: x * 2)
    """

    def __init__(self) -> None:
        super().__init__()
        self.name: str = ""
        self.fwd_hooks: list[HookFn] = []
        self.bwd_hooks: list[HookFn] = []

    def add_hook(self, fn: HookFn, dir: str = "fwd") -> None:
        if dir not in ("fwd", "bwd"):
            raise ValueError(f"Hook direction must be 'fwd' or 'bwd', got {dir!r}")
        (self.fwd_hooks if dir == "fwd" else self.bwd_hooks).append(fn)

    def remove_hooks(self, dir: str = "both") -> None:
        if dir in ("fwd", "both"):
            self.fwd_hooks.clear()
        if dir in ("bwd", "both"):
            self.bwd_hooks.clear()

    @property
    def has_hooks(self) -> bool:
        return bool(self.fwd_hooks or self.bwd_hooks)

    def forward(self, x: Tensor) -> Tensor:
        for fn in self.fwd_hooks:
            result = fn(x, hook=self)
            if result is not None and result is not x:
                check_replacement(self.name, fn, x, result)
                x = result
        if self.bwd_hooks and x.requires_grad:
            x = x.view_as(x)  # a fresh node, so each forward pass gets its own gradient hook
            for fn in self.bwd_hooks:
                x.register_hook(lambda grad, fn=fn: fn(grad, hook=self))
        return x

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


def check_replacement(name: str, fn: HookFn, old: Tensor, new: Any) -> None:
    """A forward hook may replace its tensor only by one of the same shape, dtype and device:
    anything else would flow on silently (broadcast, truncated, upcast) into wrong numbers."""
    if (
        isinstance(new, Tensor)
        and new.shape == old.shape
        and new.dtype == old.dtype
        and new.device == old.device
    ):
        return
    who = f"Forward hook {_fn_name(fn)} on {name!r}"
    if not isinstance(new, Tensor):
        raise TypeError(
            f"{who} returned {_shown(new)}; return a Tensor of shape "
            f"{list(old.shape)} ({old.dtype}), or None to keep the tensor unchanged"
        )
    if new.shape != old.shape:
        raise ValueError(
            f"{who} returned shape {list(new.shape)}, expected {list(old.shape)} "
            "(the shape of the tensor it replaces)"
        )
    raise TypeError(
        f"{who} returned dtype {new.dtype} on {new.device}, expected {old.dtype} on "
        f"{old.device} (those of the tensor it replaces)"
    )


def _fn_name(fn: Any) -> str:
    """`'ablate' (notebook.py:12)`: the function's name and where it was defined."""
    name = getattr(fn, "__name__", None) or type(fn).__name__
    shown = name if name == "<lambda>" else repr(name)
    code = getattr(fn, "__code__", None)
    if code is None:
        return shown
    return f"{shown} ({code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno})"


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{text[:60]}{'...' if len(text) > 60 else ''} ({type(value).__name__})"


class HookedModule(nn.Module):
    """Mixin giving a module TransformerLens's hook API over its `HookPoint`s.

    Call `setup_hooks()` at the end of `__init__` to name the hook points.
    """

    hook_dict: dict[str, HookPoint]

    def setup_hooks(self) -> None:
        self.hook_dict = {}
        for name, module in self.named_modules():
            if isinstance(module, HookPoint):
                module.name = name
                self.hook_dict[name] = module

    def hook_names(self) -> list[str]:
        """All hook point names, in forward order."""
        return list(self.hook_dict)

    def resolve_hook_names(self, name_or_filter: NameOrFilter | Sequence[str]) -> list[str]:
        """Names matched by a name, a list of names or a predicate; unknown names raise."""
        if callable(name_or_filter):
            return [n for n in self.hook_dict if name_or_filter(n)]
        names = [name_or_filter] if isinstance(name_or_filter, str) else list(name_or_filter)
        for name in names:
            if name not in self.hook_dict:
                raise KeyError(f"Unknown hook name {name!r}. {suggest(name, self.hook_names())}")
        return names

    def add_hook(self, name: NameOrFilter, fn: HookFn, dir: str = "fwd") -> None:
        """Attach a hook that stays until `reset_hooks()`."""
        for hook_name in self.resolve_hook_names(name):
            self.hook_dict[hook_name].add_hook(fn, dir=dir)

    def reset_hooks(self) -> None:
        for hook in self.hook_dict.values():
            hook.remove_hooks()

    @contextlib.contextmanager
    def hooks(
        self,
        fwd_hooks: Sequence[tuple[NameOrFilter, HookFn]] = (),
        bwd_hooks: Sequence[tuple[NameOrFilter, HookFn]] = (),
        reset_hooks_end: bool = True,
    ) -> Iterator[HookedModule]:
        """Context manager: hooks are attached inside and removed on exit, even on error."""
        added: list[tuple[HookPoint, HookFn, str]] = []
        try:
            for direction, pairs in (("fwd", fwd_hooks), ("bwd", bwd_hooks)):
                for name, fn in pairs:
                    for hook_name in self.resolve_hook_names(name):
                        hook = self.hook_dict[hook_name]
                        hook.add_hook(fn, dir=direction)
                        added.append((hook, fn, direction))
            yield self
        finally:
            if reset_hooks_end:
                for hook, fn, direction in added:
                    hooks = hook.fwd_hooks if direction == "fwd" else hook.bwd_hooks
                    if fn in hooks:
                        hooks.remove(fn)

    def run_with_hooks(
        self,
        *model_args: Any,
        fwd_hooks: Sequence[tuple[NameOrFilter, HookFn]] = (),
        bwd_hooks: Sequence[tuple[NameOrFilter, HookFn]] = (),
        reset_hooks_end: bool = True,
        **model_kwargs: Any,
    ) -> Any:
        """Run the model with temporary hooks: `[(name_or_filter, fn(tensor, hook))]`."""
        if bwd_hooks and not reset_hooks_end:
            raise ValueError("Backward hooks must be reset at the end (reset_hooks_end=True)")
        with self.hooks(fwd_hooks, bwd_hooks, reset_hooks_end):
            return self(*model_args, **model_kwargs)
