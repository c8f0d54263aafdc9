"""Peak memory of a measured job, reported by the job itself (bench/common.py puts this folder on PYTHONPATH).

When MLGATE_BENCH_PEAK names a file, the process writes at exit the largest resident high-water mark in its
tree, in kB: its own VmHWM (/proc/self/status) and its waited-for children's (getrusage RUSAGE_CHILDREN).
Both are of the process's own memory, unlike the ru_maxrss its parent gets from wait4: Linux keeps the
high-water mark of the memory an exec replaces, so a child started by a large parent reports at least the
parent's size. (A child of this process can inherit this process's mark, which is already counted.)

The variable is removed at start, so only the measured process writes; another sitecustomize on the path is
still imported.
"""

import os
import sys

_TARGET = os.environ.pop("MLGATE_BENCH_PEAK", None)


def _write_peak() -> None:
    import resource

    own = 0
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    own = int(line.split()[1])
                    break
    except OSError:
        return
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    try:
        with open(_TARGET, "w") as out:
            out.write(f"{own} {children}\n")
    except OSError:
        pass


if _TARGET:
    import atexit

    atexit.register(_write_peak)  # registered first, so it runs last


def _chain() -> None:
    """Import the sitecustomize this one shadows, if there is one."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    others = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


_chain()
