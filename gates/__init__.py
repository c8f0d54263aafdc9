"""mlgate: quality gates that decide whether an ML model ships."""

__version__ = "0.1.0"
