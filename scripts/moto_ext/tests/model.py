"""Checks a raw answer of the emulator against botocore's model of the operation.

boto3 parses an answer with the model and silently drops what the model does not know, so the
raw body is walked instead: every member the answer carries must exist in the operation's output
shape with the right type (and, for enums, one of the values), and every required member must
be present. EC2 and query answers are XML, restJson answers JSON.
"""

from __future__ import annotations

import functools
import json
import xml.etree.ElementTree as ET
from typing import Any

import botocore.session
from botocore.model import ListShape, OperationModel, ServiceModel, Shape, StructureShape
from botocore.utils import parse_timestamp

# What the protocols add to every answer, outside the output shape.
XML_METADATA = frozenset({"requestId", "ResponseMetadata"})
# Values moto itself gives outside the model, in members no patch sets: by shape, the values.
# moto 5.2.5's CreateImage gives RootDeviceType `standard` (EC2: `ebs` or `instance-store`).
MOTO_OWN_DEVIATIONS = {"DeviceType": frozenset({"standard"})}
INTEGERS = frozenset({"integer", "long"})
FLOATS = frozenset({"float", "double"})


@functools.cache
def service_model(service: str) -> ServiceModel:
    """botocore's model of `service` (e.g. `ec2`, `autoscaling`, `imagebuilder`)."""
    return botocore.session.get_session().get_service_model(service)


def operation_model(service: str, operation: str) -> OperationModel:
    """botocore's model of one operation (e.g. `DescribeImages`)."""
    return service_model(service).operation_model(operation)


def check_output(service: str, operation: str, body: bytes) -> None:
    """Asserts that the raw answer `body` of `operation` matches its output shape."""
    model = operation_model(service, operation)
    shape = model.output_shape
    assert shape is not None, f"{operation} has no output"
    protocol = model.metadata["protocol"]
    if protocol in ("ec2", "query"):
        root = _strip_namespaces(ET.fromstring(body))
        wrapper = shape.serialization.get("resultWrapper")
        if wrapper:
            found = root.find(wrapper)
            assert found is not None, f"{operation}: no <{wrapper}> in {body!r}"
            root = found
        _check_xml(shape, root, operation)
    else:
        _check_json(shape, json.loads(body or b"{}"), operation)


def _strip_namespaces(root: ET.Element) -> ET.Element:
    for element in root.iter():
        element.tag = element.tag.rsplit("}", 1)[-1]
    return root


def _xml_members(shape: StructureShape) -> dict[str, tuple[str, Shape]]:
    """The members of `shape` by the element name that carries them."""
    members = {}
    for name, member in shape.members.items():
        key = member.serialization.get("name", name)
        if isinstance(member, ListShape) and member.serialization.get("flattened"):
            key = member.member.serialization.get("name", key)
        members[key] = (name, member)
    return members


def _check_xml(shape: Shape, element: ET.Element, path: str) -> None:
    if isinstance(shape, StructureShape):
        members = _xml_members(shape)
        seen = set()
        for child in element:
            if child.tag in XML_METADATA and path.count(".") == 0:
                continue
            assert child.tag in members, f"{path}: <{child.tag}> is not a member of {shape.name} ({sorted(members)})"
            name, member = members[child.tag]
            seen.add(name)
            if isinstance(member, ListShape) and member.serialization.get("flattened"):
                _check_xml(member.member, child, f"{path}.{name}[]")
            else:
                _check_xml(member, child, f"{path}.{name}")
        missing = set(shape.required_members) - seen
        assert not missing, f"{path}: required {sorted(missing)} missing from {shape.name}"
    elif isinstance(shape, ListShape):
        tag = shape.member.serialization.get("name", "member")
        for i, child in enumerate(element):
            assert child.tag == tag, f"{path}[{i}]: <{child.tag}>, the model's list items are <{tag}>"
            _check_xml(shape.member, child, f"{path}[{i}]")
    elif shape.type_name != "map":
        assert len(element) == 0, f"{path}: {shape.type_name} {shape.name} has child elements"
        _check_scalar(shape, element.text or "", path)


def _check_scalar(shape: Shape, text: str, path: str) -> None:
    kind = shape.type_name
    if kind == "string" and shape.enum:
        known = text in shape.enum or text in MOTO_OWN_DEVIATIONS.get(shape.name, ())
        assert known, f"{path}: {text!r} is not one of {shape.name}'s values {shape.enum}"
    elif kind in INTEGERS:
        int(text)
    elif kind in FLOATS:
        float(text)
    elif kind == "boolean":
        assert text in ("true", "false"), f"{path}: {text!r} is not a boolean"
    elif kind == "timestamp":
        parse_timestamp(text)


def _check_json(shape: Shape, value: Any, path: str) -> None:
    assert value is not None, f"{path}: null"
    if isinstance(shape, StructureShape):
        assert isinstance(value, dict), f"{path}: {value!r} is not an object ({shape.name})"
        body_members = {
            member.serialization.get("name", name): (name, member)
            for name, member in shape.members.items()
            if member.serialization.get("location") is None
        }
        for key, item in value.items():
            assert key in body_members, f"{path}: {key!r} is not a member of {shape.name} ({sorted(body_members)})"
            name, member = body_members[key]
            _check_json(member, item, f"{path}.{name}")
        required = {name for name in shape.required_members if name in dict(body_members.values())}
        missing = required - {body_members[key][0] for key in value}
        assert not missing, f"{path}: required {sorted(missing)} missing from {shape.name}"
    elif isinstance(shape, ListShape):
        assert isinstance(value, list), f"{path}: {value!r} is not a list ({shape.name})"
        for i, item in enumerate(value):
            _check_json(shape.member, item, f"{path}[{i}]")
    elif shape.type_name == "map":
        assert isinstance(value, dict), f"{path}: {value!r} is not a map ({shape.name})"
    elif shape.type_name == "string":
        assert isinstance(value, str), f"{path}: {value!r} is not a string ({shape.name})"
        _check_scalar(shape, value, path)
    elif shape.type_name == "boolean":
        assert isinstance(value, bool), f"{path}: {value!r} is not a boolean"
    elif shape.type_name in INTEGERS:
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: {value!r} is not an integer"
    elif shape.type_name in FLOATS:
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{path}: {value!r} is not a number"
    elif shape.type_name == "timestamp":
        parse_timestamp(value)
