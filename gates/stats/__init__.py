"""Pure mathematics over sufficient statistics: the bootstrap (`bootstrap`), classification and regression
metrics (`metrics`), intervals (`intervals`), drift decisions (`drift`, with `drift_tests` and
`drift_profiles`) and anytime-valid sequential tests (`sequential`). numpy and scipy only, no I/O, so each
function can be checked against its reference implementation and by simulation with known truths."""
