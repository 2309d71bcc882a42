"""A progress bar on stderr for large images, only on a terminal and never with --json."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

# Below this size signing takes well under a second, so a bar would only flicker.
MIN_BYTES_FOR_BAR = 16 * 1024 * 1024


def _ignore(_: int) -> None:
    return None


@contextlib.contextmanager
def progress_bar(description: str, total: int, as_json: bool) -> Iterator[Callable[[int], None]]:
    """Yield a callback that advances a bar by a byte count, or does nothing."""
    if as_json or total < MIN_BYTES_FOR_BAR or not sys.stderr.isatty():
        yield _ignore
        return
    # Imported only when a bar is shown, because rich takes about 40 ms to import.
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    console = Console(file=sys.stderr)
    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda count: bar.advance(task, count)
