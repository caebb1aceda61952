"""Strategic merge as kustomize v5 (kyaml `merge2`) does it, on plain dicts and lists.

Rules, each checked against `kubectl kustomize` by tests/kustomize/test_differential.py:
- maps merge key by key; `null` deletes a key; `$patch: delete` removes the map (the whole
  resource at the top), `$patch: replace` puts the patch's map in place of ours, without its null
  fields; on an element of a keyed list that we already have, `$patch: replace` changes nothing;
- a list merges by key only where Kubernetes' schema declares a merge key (the table below);
  every other list, and every list of a kind kyaml has no schema for (custom resources), is
  replaced by the patch's list;
- single-key lists come out in the patch's order, followed by our elements the patch did not
  name; two-key lists (ports: containerPort+protocol) keep our order, put new elements first,
  and drop a patch element whose key only half matches one of ours (kyaml's behaviour);
- `finalizers` merge as a set, new values first.
"""

from __future__ import annotations

import copy
from typing import Any

# merge keys of list fields, by schema type (from the Kubernetes OpenAPI `x-kubernetes-patch-merge-key`
# / `x-kubernetes-list-map-keys` that kyaml reads); "" marks a primitive list merged as a set.
_CONTAINER = {
    "env": (("name",), None),
    "ports": (("containerPort", "protocol"), None),
    "volumeMounts": (("mountPath",), None),
    "volumeDevices": (("devicePath",), None),
}
_POD_SPEC = {
    "containers": (("name",), "Container"),
    "initContainers": (("name",), "Container"),
    "ephemeralContainers": (("name",), "Container"),
    "volumes": (("name",), None),
    "imagePullSecrets": (("name",), None),
    "hostAliases": (("ip",), None),
    "topologySpreadConstraints": (("topologyKey", "whenUnsatisfiable"), None),
}
_META = {"finalizers": (("",), None), "ownerReferences": (("uid",), None)}

# type name -> {field: child type name} for maps, and the list fields above
_MAPS: dict[str, dict[str, str]] = {
    "Object": {"metadata": "ObjectMeta"},
    "PodTemplateSpec": {"metadata": "ObjectMeta", "spec": "PodSpec"},
    "WorkloadSpec": {"template": "PodTemplateSpec"},
    "Workload": {"metadata": "ObjectMeta", "spec": "WorkloadSpec"},
    "Pod": {"metadata": "ObjectMeta", "spec": "PodSpec"},
    "PodTemplate": {"metadata": "ObjectMeta", "template": "PodTemplateSpec"},
    "JobTemplate": {"metadata": "ObjectMeta", "spec": "WorkloadSpec"},
    "CronJobSpec": {"jobTemplate": "JobTemplate"},
    "CronJob": {"metadata": "ObjectMeta", "spec": "CronJobSpec"},
    "Service": {"metadata": "ObjectMeta", "spec": "ServiceSpec"},
}
_LISTS: dict[str, dict[str, tuple[tuple[str, ...], str | None]]] = {
    "ObjectMeta": _META,
    "PodSpec": _POD_SPEC,
    "Container": _CONTAINER,
    "ServiceSpec": {"ports": (("port", "protocol"), None)},
    "Webhooks": {"webhooks": (("name",), None)},
    "ServiceAccount": {"secrets": (("name",), None)},
}
_ROOTS: dict[tuple[str, str], str] = {
    ("apps", "Deployment"): "Workload",
    ("apps", "StatefulSet"): "Workload",
    ("apps", "DaemonSet"): "Workload",
    ("apps", "ReplicaSet"): "Workload",
    ("", "ReplicationController"): "Workload",
    ("batch", "Job"): "Workload",
    ("batch", "CronJob"): "CronJob",
    ("", "Pod"): "Pod",
    ("", "PodTemplate"): "PodTemplate",
    ("", "Service"): "Service",
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): "Webhooks",
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): "Webhooks",
    ("", "ServiceAccount"): "ServiceAccount",
}
# Groups kyaml has a schema for: their kinds get ObjectMeta rules even when not listed above.
_BUILTIN_GROUPS = {
    "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "scheduling.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io",
    "coordination.k8s.io", "discovery.k8s.io", "certificates.k8s.io", "node.k8s.io",
    "apiregistration.k8s.io", "events.k8s.io", "flowcontrol.apiserver.k8s.io",
}
_UNKNOWN = None  # no schema: every list is replaced


def root_type(group: str, kind: str) -> str | None:
    if (group, kind) in _ROOTS:
        return _ROOTS[(group, kind)]
    if group in _BUILTIN_GROUPS:
        return "Object"
    return _UNKNOWN


class _Delete:
    """Marker: the patch deletes this node."""


DELETE = _Delete()


def merge_resource(dest: dict[str, Any], patch: dict[str, Any], group: str, kind: str) -> dict[str, Any] | None:
    """`dest` with `patch` merged in; None when the patch deletes the resource. Inputs are not modified."""
    result = _merge_map(copy.deepcopy(dest), patch, root_type(group, kind))
    return None if result is DELETE else result


def _child_type(type_name: str | None, key: str) -> str | None:
    if type_name is None:
        return None
    return _MAPS.get(type_name, {}).get(key, "Any")


def _list_rule(type_name: str | None, key: str) -> tuple[tuple[str, ...], str | None] | None:
    if type_name is None:
        return None
    return _LISTS.get(type_name, {}).get(key)


def _merge_map(dest: Any, patch: dict[str, Any], type_name: str | None) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return DELETE
    if directive == "replace":
        return _strip_replacement(patch, type_name)
    if not isinstance(dest, dict):
        dest = {}
    for key, value in patch.items():
        if key == "$patch":
            continue
        if value is None:
            dest.pop(key, None)
            continue
        merged = _merge_value(dest.get(key), value, type_name, key)
        if merged is DELETE:
            dest.pop(key, None)
        else:
            dest[key] = merged
    return dest


def _merge_value(dest: Any, patch: Any, parent_type: str | None, key: str) -> Any:
    if isinstance(patch, dict):
        return _merge_map(dest, patch, _child_type(parent_type, key))
    if isinstance(patch, list):
        rule = _list_rule(parent_type, key)
        if rule is None:
            return _replace_list(patch)
        keys, elem_type = rule
        if keys == ("",):
            return _merge_primitive(dest if isinstance(dest, list) else [], patch)
        return _merge_keyed(dest if isinstance(dest, list) else [], patch, keys, elem_type)
    return copy.deepcopy(patch)


def _strip(node: Any) -> Any:
    """The patch's own content without `$patch` markers (what `$patch: replace` puts in place)."""
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k != "$patch"}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _strip_replacement(node: dict[str, Any], type_name: str | None) -> dict[str, Any]:
    """What `$patch: replace` puts in place of a map: kyaml drops the null fields of the replacement's
    maps, at any depth through maps and the elements of keyed lists (containers, env), but copies
    other lists (those of custom resources included) as they are."""
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k == "$patch" or v is None:
            continue
        if isinstance(v, dict):
            out[k] = _strip_replacement(v, _child_type(type_name, k))
        elif isinstance(v, list):
            rule = _list_rule(type_name, k)
            if rule is not None and rule[0] != ("",):
                out[k] = [_strip_replacement(e, rule[1]) if isinstance(e, dict) else _strip(e) for e in v]
            else:
                out[k] = _strip(v)
        else:
            out[k] = v
    return out


def _list_directive(patch: list[Any]) -> tuple[str | None, list[Any]]:
    directive = None
    rest = []
    for item in patch:
        if isinstance(item, dict) and set(item) == {"$patch"}:
            directive = item["$patch"]
        else:
            rest.append(item)
    return directive, rest


def _replace_list(patch: list[Any]) -> Any:
    directive, rest = _list_directive(patch)
    if directive == "delete":
        return DELETE
    return copy.deepcopy(rest if directive else patch)


def _merge_primitive(dest: list[Any], patch: list[Any]) -> Any:
    directive, rest = _list_directive(patch)
    if directive == "delete":
        return DELETE
    if directive == "replace":
        return copy.deepcopy(rest)
    out = list(rest)
    out += [v for v in dest if v not in rest]
    return out


def _key_of(item: Any, keys: tuple[str, ...]) -> tuple[Any, ...] | None:
    if not isinstance(item, dict):
        return None
    return tuple(item.get(k) for k in keys)


def _merge_keyed(dest: list[Any], patch: list[Any], keys: tuple[str, ...], elem_type: str | None) -> Any:
    directive, rest = _list_directive(patch)
    if directive == "delete":
        return DELETE
    if directive == "replace":
        return _strip(rest)
    if len(keys) == 1:
        return _merge_single_key(dest, rest, keys[0], elem_type)
    return _merge_multi_key(dest, rest, keys, elem_type)


def _merge_single_key(dest: list[Any], patch: list[Any], key: str, elem_type: str | None) -> list[Any]:
    ours: dict[Any, Any] = {}
    for item in dest:
        if isinstance(item, dict) and item.get(key) is not None:
            ours.setdefault(_scalar_key(item[key]), item)
    order: list[Any] = []
    theirs: dict[Any, Any] = {}
    for item in patch:
        if not isinstance(item, dict) or item.get(key) is None:
            continue  # kyaml skips elements without their merge key
        k = _scalar_key(item[key])
        if k not in theirs:
            order.append(k)
            theirs[k] = item
    for item in dest:
        if isinstance(item, dict) and item.get(key) is not None:
            k = _scalar_key(item[key])
            if k not in theirs and k not in order:
                order.append(k)
    out = []
    for k in order:
        if k in theirs and k in ours and theirs[k].get("$patch") == "replace":
            out.append(ours[k])  # kyaml leaves an existing element alone when the patch's says `$patch: replace`
        elif k in theirs:
            merged = _merge_map(copy.deepcopy(ours.get(k)) if k in ours else {}, theirs[k], elem_type)
            if merged is DELETE:
                continue
            out.append(merged)
        else:
            out.append(ours[k])
    return out


def _merge_multi_key(dest: list[Any], patch: list[Any], keys: tuple[str, ...], elem_type: str | None) -> list[Any]:
    out = list(dest)
    new: list[Any] = []
    for item in patch:
        pk = _key_of(item, keys)
        if pk is None:
            continue
        exact = [i for i, d in enumerate(out) if _key_of(d, keys) == pk]
        if exact and item.get("$patch") == "replace":
            continue  # kyaml leaves an existing element alone when the patch's says `$patch: replace`
        if exact:
            i = exact[0]
            merged = _merge_map(copy.deepcopy(out[i]), item, elem_type)
            if merged is DELETE:
                if all(v is not None for v in pk):  # kyaml cannot locate an element by a missing key
                    del out[i]
            else:
                out[i] = merged
            continue
        partial = any(
            (dk := _key_of(d, keys)) is not None
            and all(a == b or a is None or b is None for a, b in zip(pk, dk))
            for d in out
        )
        if partial or item.get("$patch") == "delete":
            continue
        merged = _merge_map({}, item, elem_type)
        if merged is not DELETE:
            new.append(merged)
    return new + out


def _scalar_key(value: Any) -> Any:
    # YAML `80` and `"80"` are different keys to kyaml only by tag; compare as text like it does
    return str(value)
