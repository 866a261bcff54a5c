"""Breaking-change detection between a released event schema and the current one."""

from __future__ import annotations

from typing import Any


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _resolve(root.get("$defs", {}).get(ref.rsplit("/", 1)[-1], {}), root)
    return schema


def _types(schema: dict[str, Any], root: dict[str, Any]) -> set[str]:
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        return set().union(*(_types(s, root) for s in schema["anyOf"]))
    t = schema.get("type")
    if isinstance(t, list):
        return set(t)
    return {t} if isinstance(t, str) else {"any"}


def breaking_changes(
    old: dict[str, Any],
    new: dict[str, Any],
    path: str = "",
    old_root: dict[str, Any] | None = None,
    new_root: dict[str, Any] | None = None,
) -> list[str]:
    """What a consumer built against `old` would trip over in `new`.

    The rule: every message valid under the new schema must be valid under the released
    one, as far as consumers rely on it. So a required field removed, renamed or made
    optional breaks, and so does a field whose type or enumeration admits values the
    released schema did not. Adding optional fields does not.
    """
    old_root = old_root or old
    new_root = new_root or new
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    out: list[str] = []
    old_required = set(old.get("required", []))
    new_required = set(new.get("required", []))
    for name in sorted(old_required - new_required):
        where = f"{path}.{name}".lstrip(".")
        if name not in new.get("properties", {}):
            out.append(f"{where}: required field removed or renamed")
        else:
            out.append(f"{where}: required field became optional")
    for name, old_prop in old.get("properties", {}).items():
        new_prop = new.get("properties", {}).get(name)
        if new_prop is None:
            continue
        where = f"{path}.{name}".lstrip(".")
        gained = _types(new_prop, new_root) - _types(old_prop, old_root)
        if gained and "any" not in _types(old_prop, old_root):
            out.append(f"{where}: type changed (now also {', '.join(sorted(gained))})")
        old_enum = _resolve(old_prop, old_root).get("enum")
        new_enum = _resolve(new_prop, new_root).get("enum")
        if old_enum is not None and (new_enum is None or set(new_enum) - set(old_enum)):
            out.append(f"{where}: values outside the released enumeration")
        if "properties" in _resolve(old_prop, old_root):
            out += breaking_changes(old_prop, new_prop, where, old_root, new_root)
    return out
