"""The gates' bootstrap with a sign of life: gates.stats.bootstrap stays pure computation, and the progress line
on stderr (gates.core.progress) is added here, where the gates call it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gates.core import progress
from gates.stats.bootstrap import Cells
from gates.stats.bootstrap import bootstrap as bootstrap_samples


def bootstrap(
    cells: Cells, statistic: Callable[[np.ndarray], dict[str, np.ndarray]], resamples: int, seed: int
) -> dict[str, np.ndarray]:
    """gates.stats.bootstrap.bootstrap, with a progress line on long runs."""
    with progress.task("bootstrap", resamples, "resamples") as shown:
        return bootstrap_samples(cells, statistic, resamples, seed, advance=shown.advance)
