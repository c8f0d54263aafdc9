"""The model registry in the loop (MLflow): candidate and baseline by registry reference, scored on an
evaluation table after the artifact scan, and promotion / rollback as alias moves recorded on the version and
in the audit trail.

Modules: `references` (parse `models:/...` and `runs:/...`), `store` (the MLflow client: tracking URI,
timeouts, error mapping), `scoring` (scan, load, predict, write the predictions table the metrics and bias
gates read), `promotion` (promote and roll back an alias). MLflow is imported only inside `store` and `scoring`,
so the rest of mlgate never pays for it.
"""
