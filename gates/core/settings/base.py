"""The building blocks every section of gates.yml shares: the base model, paths, thresholds, bootstrap settings.

A setting is declared once, here or in its section's module, with its type, bounds, default and the sentence a
user reads; the JSON Schema (gates/schema/gates.schema.json), `mlgate policy schema` and
docs/reference/policy.md are generated from these declarations (gates.core.settings.schema), so the code, the
schema and the docs cannot disagree about a default.

Fields whose default depends on another part of the policy (a section's `bootstrap` and `decide_on` inherit
`defaults:`) are None when unset; `model_fields_set` tells an explicit value from a default, which is how
`Bootstrap.layered` lays `defaults.bootstrap` and a section's `bootstrap` over the built-in values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema
from typing_extensions import Self

# Values of these types are what YAML gives; `strict` keeps pydantic from turning "1" into 1 or 1 into True, so
# the model accepts exactly what the generated schema accepts.
_CONFIG = ConfigDict(extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True)


class Settings(BaseModel):
    """Base of every settings model: unknown keys are errors, values are read-only once validated."""

    model_config = _CONFIG
    # Keys that may be written as null (YAML `key:` or `key: null`). Any other null is an error, as in the schema:
    # an optional key is left out to get its default, so a null is more likely a value that went missing.
    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _as_the_schema_says(cls, data: Any) -> Any:
        """The rules the schema states beyond types: no null values, and a model's min / max number of keys
        (its json_schema_extra minProperties / maxProperties, read from there so they are written once)."""
        if not isinstance(data, dict):
            return data
        keys = {field.alias or name for name, field in cls.model_fields.items()}  # as written in gates.yml
        for key, value in data.items():
            if value is None and key in keys and key not in cls.nullable:
                raise ValueError(f"{key}: expected a value, got null (leave the key out for its default)")
        extra = cls.model_config.get("json_schema_extra")
        if isinstance(extra, dict):
            low, high = extra.get("minProperties"), extra.get("maxProperties")
            if isinstance(low, int) and len(data) < low:
                raise ValueError("must not be empty" if low == 1 else f"expected at least {low} keys")
            if isinstance(high, int) and len(data) > high:
                raise ValueError(f"expected at most {high} key{'s' if high > 1 else ''}, got {len(data)}")
        return data

    @classmethod
    def parse(cls, value: Self | Mapping[str, Any], where: str) -> Self:
        """These settings from a model or a mapping (every key checked: unknown keys are errors), with the
        problems as InputError lines under the key path `where` (e.g. `security.manifests`)."""
        return cls._validated(value, where, only_own_keys=False)

    @classmethod
    def part(cls, value: Self | Mapping[str, Any], where: str) -> Self:
        """This model's keys of a larger mapping, validated like `parse`.

        For the pure functions of a gate (`evaluate`) that read only a part of their section: the other keys
        of the mapping belong to other readers and were validated with the whole policy, if it came from one."""
        return cls._validated(value, where, only_own_keys=True)

    @classmethod
    def _validated(cls, value: Self | Mapping[str, Any], where: str, only_own_keys: bool) -> Self:
        if not isinstance(value, Mapping):
            assert isinstance(value, cls), f"{type(value).__name__} is not {cls.__name__}"
            return value
        from pydantic import ValidationError

        from gates.core.errors import InputError, problems_message
        from gates.core.settings.errors import pydantic_problems

        given = {k: v for k, v in value.items() if k in cls.model_fields or not only_own_keys}
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            path = tuple(where.split("."))
            raise InputError(problems_message("settings", pydantic_problems(exc, path))) from None


class UniqueItems:
    """Annotation of a list whose items must all differ: the schema's `uniqueItems`, checked by the model too."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(_unique, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        generated = handler(schema)
        generated["uniqueItems"] = True
        return generated


def _unique(values: list[Any]) -> list[Any]:
    for index, value in enumerate(values):
        if value in values[:index]:
            raise ValueError(f"{value!r} is listed twice")
    return values


def model_names() -> frozenset[str]:
    """The class names of every settings model (pydantic puts them in error locations of unions)."""
    found: set[str] = set()
    todo: list[type[Settings]] = [Settings]
    while todo:
        model = todo.pop()
        found.add(model.__name__)
        todo += model.__subclasses__()
    return frozenset(found)


class Section(Settings):
    """A top-level section of gates.yml (a gate or a delivery command) that validates itself like the policy."""

    section: ClassVar[str]

    @classmethod
    def of(cls, value: Self | Mapping[str, Any], label: str = "settings") -> Self:
        """These settings, from a validated model or from a plain mapping (validated here like gates.yml, so a
        mapping built in code gets the policy's one-line errors: `label: section.key: what was expected`)."""
        if not isinstance(value, Mapping):
            assert isinstance(value, cls), f"{type(value).__name__} is not {cls.__name__}"
            return value
        from gates.core.policy import section_settings

        parsed = section_settings(cls.section, dict(value), label)
        assert isinstance(parsed, cls)
        return parsed


PathText = Annotated[
    str, Field(min_length=1, description="A file path, relative to the policy file's folder.")
]
PathList = Annotated[list[PathText], Field(min_length=1)]
Paths = Annotated[
    PathText | PathList,
    Field(description="One path or glob, or a list of them, relative to the policy file's folder."),
]
Probability = Annotated[float, Field(ge=0, le=1)]
Name = Annotated[str, Field(min_length=1)]
Label = str | int  # a class label as it appears in a predictions table
DecideOn = Annotated[
    Literal["point", "bound"],
    Field(
        description="point: the point value must clear the threshold (an interval that reaches across warns); "
        "bound: the interval's worse bound must clear it."
    ),
]
Verdict = Literal["fail", "inconclusive"]


def as_list(paths: str | list[str] | None) -> list[str]:
    """One path or a list of them, as a list (an absent value is an empty list)."""
    if paths is None:
        return []
    return [paths] if isinstance(paths, str) else list(paths)


class Bootstrap(Settings):
    """Bootstrap confidence intervals: same seed, same numbers."""

    confidence: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    """Confidence level of the intervals."""
    resamples: Annotated[int, Field(ge=0, le=100000)] = 1000
    """Bootstrap resamples (0 turns intervals off)."""
    seed: Annotated[int, Field(ge=0)] = 0
    """Random seed."""

    @classmethod
    def layered(cls, *layers: Bootstrap | None) -> Bootstrap:
        """The built-in values, then each layer's explicitly set keys over them (later layers win)."""
        values: dict[str, Any] = {}
        for layer in layers:
            if layer is not None:
                values.update({key: getattr(layer, key) for key in layer.model_fields_set})
        return cls(**values)


class Threshold(Settings):
    """Limits on a value: at least min, at most max."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    min: float | None = None
    max: float | None = None
    decide_on: DecideOn | None = None
    """Default: the section's decide_on."""


class UnitThreshold(Threshold):
    """Limits on a value between 0 and 1."""

    min: Probability | None = None
    max: Probability | None = None


class Columns(Settings):
    """Column mapping: which column of the table holds what."""

    id: str | None = None
    label: str | None = None
    score: str | None = None
    """Binary: probability of the positive class."""
    scores: Annotated[list[str], Field(min_length=2)] | None = None
    """Multiclass: one probability column per class, in the order of classes."""
    prediction: str | None = None

    def given(self) -> dict[str, Any]:
        """The columns set in the policy (what the prediction readers take)."""
        return self.model_dump(exclude_unset=True, exclude_none=True)


class Defaults(Settings):
    """Values every gate inherits unless its own section sets them."""

    bootstrap: Bootstrap | None = None
    decide_on: DecideOn = "point"


class Audit(Settings):
    """The append-only audit trail (JSON Lines, each record holding the hash of the one before)."""

    enabled: bool = True
    path: PathText | None = None
    """Default: audit.jsonl in the report folder."""


from gates.core.settings.engine import EngineSettings


class TopLevel(Settings):
    """The keys of gates.yml outside the sections."""

    version: Literal[1]
    """Policy format version."""
    report_dir: PathText | None = None
    """Where reports go (default mlgate-reports, or --report-dir)."""
    defaults: Defaults | None = None
    audit: Audit | None = None
    engine: EngineSettings | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        if isinstance(value, bool):  # True == 1 in Python, not in the schema
            raise ValueError(f"expected 1, got {value}")  # noqa: TRY004 - pydantic reports ValueError, not TypeError
        return value


class DecidingSection(Section):
    """A section whose checks have bootstrap intervals and a decide_on, both inherited from `defaults:`."""

    bootstrap: Bootstrap | None = None
    """Default: defaults.bootstrap."""
    decide_on: DecideOn | None = None
    """Default: defaults.decide_on."""
