"""Option forms built at request time from the API's own request models, so the console never drifts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from framelane.models import REQUEST_MODEL_BY_TYPE, TaskRequestBase, TaskType

COMMON_FIELDS = frozenset(TaskRequestBase.model_fields)


@dataclass(frozen=True)
class OptionField:
    """One input: `kind` is number, choice (a select), choices (checkboxes), boolean or text."""

    name: str
    label: str
    kind: str
    description: str = ""
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    choices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TaskForm:
    task_type: str
    path: str
    label: str
    fields: list[OptionField]


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Follows `$ref` and drops the `null` branch of an optional field."""
    if "$ref" in prop:
        return {**defs[prop["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in prop.items() if k != "$ref"}}
    branches = [b for b in prop.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        return {**_resolve(branches[0], defs), **{k: v for k, v in prop.items() if k != "anyOf"}}
    return prop


def _option_field(name: str, prop: dict[str, Any], defs: dict[str, Any]) -> OptionField:
    spec = _resolve(prop, defs)
    kind, choices = "text", []
    if "enum" in spec:
        kind, choices = "choice", [str(c) for c in spec["enum"]]
    elif spec.get("type") == "array":
        kind, choices = "choices", [str(c) for c in _resolve(spec.get("items", {}), defs).get("enum", [])]
    elif spec.get("type") in {"number", "integer"}:
        kind = "number"
    elif spec.get("type") == "boolean":
        kind = "boolean"
    return OptionField(
        name=name,
        label=name.replace("_", " ").capitalize(),
        kind=kind,
        description=str(spec.get("description", "")),
        default=spec.get("default"),
        minimum=spec.get("minimum"),
        maximum=spec.get("maximum"),
        pattern=spec.get("pattern"),
        choices=choices,
    )


def task_forms() -> list[TaskForm]:
    forms = []
    for task_type, model in REQUEST_MODEL_BY_TYPE.items():
        schema = model.model_json_schema()
        defs = schema.get("$defs", {})
        fields = [
            _option_field(name, prop, defs)
            for name, prop in schema["properties"].items()
            if name not in COMMON_FIELDS
        ]
        label = task_type.value.replace("_", " ").capitalize()
        forms.append(TaskForm(task_type.value, _path(task_type), label, fields))
    return forms


def _path(task_type: TaskType) -> str:
    return f"/v1/tasks/{task_type.value.replace('_', '-')}"
