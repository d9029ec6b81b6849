"""template.yaml as CloudFormation would see it for one set of parameter values: conditions evaluated, resources
whose condition is false removed, `Fn::If` resolved, `AWS::NoValue` dropped and parameter `Ref`s replaced by their
values. Everything else (resource Refs, GetAtt, Sub) stays as written, for the tests to compare."""

from __future__ import annotations

import copy
from typing import Any

from infra.table import load_template

NO_VALUE = object()


class Stack:
    def __init__(self, *, template: dict[str, Any] | None = None, **parameters: str) -> None:
        self.template = copy.deepcopy(template if template is not None else load_template())
        declared = self.template["Parameters"]
        unknown = set(parameters) - set(declared)
        if unknown:
            raise KeyError(f"not template parameters: {sorted(unknown)}")
        self.parameters = {name: str(spec.get("Default", "")) for name, spec in declared.items()} | parameters
        self.conditions: dict[str, bool] = {}
        for name, body in self.template.get("Conditions", {}).items():
            self.conditions[name] = self._truth(body)

    def _value(self, node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in self.parameters:
            return self.parameters[node["Ref"]]
        return node

    def _truth(self, node: Any) -> bool:
        ((function, argument),) = node.items()
        if function == "Fn::Equals":
            left, right = (self._value(item) for item in argument)
            return bool(left == right)
        if function == "Fn::Not":
            return not self._truth(argument[0])
        if function == "Fn::And":
            return all(self._truth(item) for item in argument)
        if function == "Fn::Or":
            return any(self._truth(item) for item in argument)
        if function in {"Condition", "Fn::Condition"}:
            if argument not in self.conditions:
                self.conditions[argument] = self._truth(self.template["Conditions"][argument])
            return self.conditions[argument]
        raise ValueError(f"unsupported condition function {function}")

    def _render(self, node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Ref"}:
                if node["Ref"] == "AWS::NoValue":
                    return NO_VALUE
                return self._value(node)
            if set(node) == {"Fn::If"}:
                condition, when_true, when_false = node["Fn::If"]
                return self._render(when_true if self.conditions[condition] else when_false)
            rendered = {key: self._render(value) for key, value in node.items()}
            return {key: value for key, value in rendered.items() if value is not NO_VALUE}
        if isinstance(node, list):
            return [item for item in (self._render(value) for value in node) if item is not NO_VALUE]
        return node

    @property
    def resources(self) -> dict[str, Any]:
        kept = {
            name: resource
            for name, resource in self.template["Resources"].items()
            if "Condition" not in resource or self.conditions[resource["Condition"]]
        }
        rendered: dict[str, Any] = self._render(kept)
        return rendered

    @property
    def outputs(self) -> dict[str, Any]:
        kept = {
            name: output
            for name, output in self.template["Outputs"].items()
            if "Condition" not in output or self.conditions[output["Condition"]]
        }
        rendered: dict[str, Any] = self._render(kept)
        return rendered

    def document(self) -> dict[str, Any]:
        """The whole template as deployed with these parameters: no Conditions, Rules or parameters left to read,
        every `Fn::If` decided. What a scanner that cannot evaluate conditions (checkov) should see."""
        kept = ("AWSTemplateFormatVersion", "Transform", "Description")
        return {k: self.template[k] for k in kept if k in self.template} | {
            "Resources": self.resources,
            "Outputs": self.outputs,
        }

    def of_type(self, resource_type: str) -> dict[str, Any]:
        return {name: r for name, r in self.resources.items() if r["Type"] == resource_type}
