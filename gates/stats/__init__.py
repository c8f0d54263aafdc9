"""Pure mathematics over sufficient statistics: the bootstrap (`bootstrap`), classification and regression
metrics (`metrics`) and drift tests (`drift`). numpy and scipy only, no I/O, so each function can be checked
against its reference implementation and by simulation with known truths."""
