"""The watch after release (`mlgate monitor`): sequential change detection with a stated ARL0 (changepoint,
checked by simulation in simulate), evidence from prediction logs or Prometheus (sources), accuracy and
calibration of the labelled subset (quality), the state kept between runs (state), the actions on a regression
(actions), and one scheduled run tying them together (run)."""
