"""Example model project used to exercise the mlgate quality gates."""
