"""The data-validation gate (``gates.core.registry`` runs ``gates.data.run``).

- :mod:`gates.data.gate`: ``run`` and ``evaluate``, the checks in report order;
- :mod:`gates.data.schema`: schema documents (load, infer, validate, save);
- :mod:`gates.data.columns`, :mod:`gates.data.regex`, :mod:`gates.data.statistics`: per-column row rules,
  patterns and bounded statistics;
- :mod:`gates.data.expressions`, :mod:`gates.data.tables`: expressions and table rules (duplicates, relations,
  row-count change, references);
- :mod:`gates.data.suites`, :mod:`gates.data.suite_ge`, :mod:`gates.data.suite_pandera`: Great Expectations and
  pandera suites read as schema documents.
"""

from gates.data.gate import GATE, evaluate, infer_schema, load_schema, resolve_schema, run

__all__ = ["GATE", "evaluate", "infer_schema", "load_schema", "resolve_schema", "run"]
