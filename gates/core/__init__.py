"""The verdict model every other package builds on: policy, thresholds, results, errors, the registry of gates,
the session and context of a run, and the audit trail. It imports nothing else of mlgate, so a reader, an
engine or a format can depend on it without a cycle."""
