"""Progress reporting for long work. The library takes a factory; the CLI passes a tqdm bar
on a terminal and nothing otherwise."""
from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def update(self, n: int) -> None: ...
    def close(self) -> None: ...


class ProgressFactory(Protocol):
    def __call__(self, stage: str, total: int) -> Progress: ...


class _Silent:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def NO_PROGRESS(stage: str, total: int) -> Progress:  # noqa: N802 - used like a constant
    return _Silent()


def terminal_progress(stream) -> ProgressFactory:
    """tqdm bars on ``stream`` (stderr), one per stage."""
    from tqdm import tqdm

    def factory(stage: str, total: int) -> Progress:
        return tqdm(total=total, desc=f"{stage:<11}", unit="", file=stream, leave=False,
                    dynamic_ncols=True, mininterval=0.2)

    return factory
