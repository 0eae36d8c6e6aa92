#!/usr/bin/env python3
"""Validates Kubernetes manifests written by `allot compile --target kueue`
against the Kueue CustomResourceDefinitions, offline.

usage: kueue_validate.py --crds DIR MANIFEST.yaml...

For every document it checks what the API server would on create:
  * Kueue kinds against the openAPIV3Schema of the CRD version that
    `apiVersion` names, with unknown fields rejected (as `kubectl apply
    --validate=strict` does); enums, patterns, types, int-or-string quantities;
  * the CEL rules (`x-kubernetes-validations`) of the fields in use, each
    evaluated by a re-implementation below; a rule without one is an error,
    so that a new CRD version cannot pass unchecked; rules on `oldSelf`
    apply to updates only and are skipped;
  * object names as DNS-1123 subdomains (Namespaces as labels), label keys
    and values;
  * Namespace and RoleBinding: their known fields only;
  * references across the documents given: a Cohort's parent, a
    ClusterQueue's cohort and flavors, a LocalQueue's ClusterQueue and
    Namespace, no Cohort cycle.
Prints one `error:` line per problem and a summary. Exit status 0 when valid,
1 on errors, 2 on usage errors.
"""
import copy
import os
import re
import sys

import jsonschema
import yaml

SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def load_crds(directory):
    schemas = {}
    for f in sorted(os.listdir(directory)):
        if not f.endswith(".yaml"):
            continue
        with open(os.path.join(directory, f)) as fh:
            crd = yaml.safe_load(fh)
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for v in crd["spec"]["versions"]:
            if v.get("served", True):
                schemas[(f"{group}/{v['name']}", kind)] = v["schema"]["openAPIV3Schema"]
    return schemas


def strict(schema):
    """The schema with additionalProperties: false wherever properties are
    listed and unknown fields are not preserved (the API server would prune
    them; strict field validation rejects them)."""
    s = copy.deepcopy(schema)

    def walk(node):
        if not isinstance(node, dict):
            return
        if "properties" in node and "additionalProperties" not in node and not node.get(
                "x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        for key in ("properties", "patternProperties"):
            for child in node.get(key, {}).values():
                walk(child)
        for key in ("items", "additionalProperties", "not"):
            if isinstance(node.get(key), dict):
                walk(node[key])
        for key in ("allOf", "anyOf", "oneOf"):
            for child in node.get(key, []):
                walk(child)

    walk(s)
    # The API server validates metadata itself (names are checked below).
    s.get("properties", {}).get("metadata", {}).pop("additionalProperties", None)
    return s


# ---- CEL rules, by rule text: each takes the value at the rule's path ----------
def _no_borrowing_without(field):
    def check(spec):
        if field in spec or "resourceGroups" not in spec:
            return True
        return all("borrowingLimit" not in r for rg in spec["resourceGroups"] for f in rg.get("flavors", [])
                   for r in f.get("resources", []))
    return check


def _normalise(rule):
    return " ".join(rule.split())


CEL = {
    _normalise("!has(self.cohort) && has(self.resourceGroups) ? self.resourceGroups.all(rg, rg.flavors.all(f, "
               "f.resources.all(r, !has(r.borrowingLimit)))) : true"): _no_borrowing_without("cohort"),
    _normalise("!has(self.cohortName) && has(self.resourceGroups) ? self.resourceGroups.all(rg, rg.flavors.all(f, "
               "f.resources.all(r, !has(r.borrowingLimit)))) : true"): _no_borrowing_without("cohortName"),
    _normalise("!has(self.preference) || (self.whenCanBorrow == 'TryNextFlavor' && self.whenCanPreempt == "
               "'TryNextFlavor')"):
        lambda v: "preference" not in v or (v.get("whenCanBorrow") == "TryNextFlavor"
                                            and v.get("whenCanPreempt") == "TryNextFlavor"),
    _normalise("!(self.reclaimWithinCohort == 'Never' && has(self.borrowWithinCohort) &&  "
               "self.borrowWithinCohort.policy != 'Never')"):
        lambda v: not (v.get("reclaimWithinCohort", "Never") == "Never" and "borrowWithinCohort" in v
                       and v["borrowWithinCohort"].get("policy", "Never") != "Never"),
    _normalise("self.flavors.all(x, size(x.resources) == size(self.coveredResources))"):
        lambda v: all(len(f.get("resources", [])) == len(v.get("coveredResources", [])) for f in v.get("flavors", [])),
    _normalise("!has(self.topologyName) || self.nodeLabels.size() >= 1"):
        lambda v: "topologyName" not in v or len(v.get("nodeLabels") or {}) >= 1,
    _normalise("self.all(x, x.effect in ['NoSchedule', 'PreferNoSchedule', 'NoExecute'])"):
        lambda v: all(x.get("effect") in ("NoSchedule", "PreferNoSchedule", "NoExecute") for x in v),
    _normalise("self.all(x, !has(x.key) ? x.operator == 'Exists' : true)"):
        lambda v: all("key" in x or x.get("operator") == "Exists" for x in v),
    _normalise("self.all(x, has(x.tolerationSeconds) ? x.effect == 'NoExecute' : true)"):
        lambda v: all("tolerationSeconds" not in x or x.get("effect") == "NoExecute" for x in v),
    _normalise("self.all(x, !has(x.operator) || x.operator in ['Equal', 'Exists'])"):
        lambda v: all(x.get("operator", "Equal") in ("Equal", "Exists") for x in v),
    _normalise("self.all(x, has(x.operator) && x.operator == 'Exists' ? !has(x.value) : true)"):
        lambda v: all(not (x.get("operator") == "Exists" and "value" in x) for x in v),
    _normalise("self.all(x, !has(x.effect) || x.effect in ['NoSchedule', 'PreferNoSchedule', 'NoExecute'])"):
        lambda v: all(x.get("effect", "NoSchedule") in ("NoSchedule", "PreferNoSchedule", "NoExecute") for x in v),
}


def rules(schema, path=""):
    for r in schema.get("x-kubernetes-validations", []):
        yield path, r
    for key, child in schema.get("properties", {}).items():
        yield from rules(child, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        yield from rules(schema["items"], path + "[]")


def values_at(doc, path):
    current = [doc]
    for name, array in re.findall(r"\.([^.\[]+)|(\[\])", path):
        following = []
        for c in current:
            if array:
                following.extend(c if isinstance(c, list) else [])
            elif isinstance(c, dict) and name in c:
                following.append(c[name])
        current = following
    return current


CORE_FIELDS = {
    ("v1", "Namespace"): {"apiVersion", "kind", "metadata", "spec"},
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): {"apiVersion", "kind", "metadata", "roleRef", "subjects"},
}
METADATA_FIELDS = {"name", "namespace", "labels", "annotations"}


def check_labels(labels, where, errors):
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if prefix and (not SUBDOMAIN.match(prefix) or len(prefix) > 253):
            errors.append(f"{where}: label key {key!r}: prefix is not a DNS-1123 subdomain")
        if not LABEL_NAME.match(name) or len(name) > 63:
            errors.append(f"{where}: label key {key!r} is not a valid label name")
        if not isinstance(value, str) or not LABEL_VALUE.match(value) or len(value) > 63:
            errors.append(f"{where}: label value {value!r} of {key!r} is not a valid label value")


_VALIDATORS = {}


def _validator(api, kind, schema):
    """One strict validator per CRD version, built once."""
    if (api, kind) not in _VALIDATORS:
        _VALIDATORS[(api, kind)] = jsonschema.Draft7Validator(strict(schema))
    return _VALIDATORS[(api, kind)]


def check_document(doc, schemas, where):
    errors = []
    kind, api = doc.get("kind"), doc.get("apiVersion")
    metadata = doc.get("metadata") or {}
    name = metadata.get("name", "")
    label = f"{where} {kind}/{name}"
    if not isinstance(name, str) or not SUBDOMAIN.match(name) or len(name) > 253:
        errors.append(f"{label}: metadata.name {name!r} is not a DNS-1123 subdomain")
    if kind == "Namespace" and not (LABEL.match(name) and len(name) <= 63):
        errors.append(f"{label}: metadata.name {name!r} of a Namespace is not a DNS-1123 label")
    if "namespace" in metadata and not (LABEL.match(str(metadata["namespace"])) and len(metadata["namespace"]) <= 63):
        errors.append(f"{label}: metadata.namespace {metadata['namespace']!r} is not a DNS-1123 label")
    for key in metadata:
        if key not in METADATA_FIELDS:
            errors.append(f"{label}: metadata.{key}: unknown field")
    check_labels(metadata.get("labels"), label, errors)
    if (api, kind) in CORE_FIELDS:
        for key in doc:
            if key not in CORE_FIELDS[(api, kind)]:
                errors.append(f"{label}: {key}: unknown field")
        if kind == "RoleBinding":
            ref = doc.get("roleRef") or {}
            if set(ref) != {"apiGroup", "kind", "name"} or ref.get("kind") not in ("Role", "ClusterRole"):
                errors.append(f"{label}: roleRef needs exactly apiGroup, kind (Role or ClusterRole) and name")
            if "namespace" not in metadata:
                errors.append(f"{label}: a RoleBinding needs metadata.namespace")
            for s in doc.get("subjects") or []:
                if s.get("kind") not in ("User", "Group", "ServiceAccount") or not s.get("name"):
                    errors.append(f"{label}: subject {s!r} needs a kind (User, Group, ServiceAccount) and a name")
        return errors
    if not isinstance(api, str) or not api.startswith("kueue.x-k8s.io/"):
        errors.append(f"{label}: unexpected kind {api}/{kind}")
        return errors
    schema = schemas.get((api, kind))
    if schema is None:
        errors.append(f"{label}: no CRD serves {kind} in {api}")
        return errors
    validator = _validator(api, kind, schema)
    for e in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
        path = "/".join(str(p) for p in e.absolute_path)
        errors.append(f"{label}: {path or '(root)'}: {e.message}")
    if kind == "ResourceFlavor":
        check_labels((doc.get("spec") or {}).get("nodeLabels"), label + " nodeLabels", errors)
    for path, rule in rules(schema):
        text = rule.get("rule", "")
        if path.startswith(".status") or "oldSelf" in text:
            continue
        values = values_at(doc, path)
        if not values:
            continue
        check = CEL.get(_normalise(text))
        if check is None:
            errors.append(f"{label}: {path}: CEL rule not evaluated by this validator: {text}")
            continue
        for v in values:
            if not check(v):
                errors.append(f"{label}: {path}: {rule.get('message', text)}")
    return errors


def check_references(docs):
    """Objects that name each other must exist among the documents."""
    errors = []
    by_kind = {}
    for where, doc in docs:
        by_kind.setdefault(doc.get("kind"), {})[(doc.get("metadata") or {}).get("name")] = (where, doc)
    cohorts = by_kind.get("Cohort", {})
    flavors = by_kind.get("ResourceFlavor", {})

    def flavor_refs(where, doc):
        for rg in (doc.get("spec") or {}).get("resourceGroups", []) or []:
            for f in rg.get("flavors", []) or []:
                if f.get("name") not in flavors:
                    errors.append(f"{where}: flavor {f.get('name')!r} is not a ResourceFlavor here")

    for name, (where, doc) in cohorts.items():
        parent = (doc.get("spec") or {}).get("parentName")
        if parent is not None and parent not in cohorts:
            errors.append(f"{where} Cohort/{name}: parent {parent!r} is not a Cohort here")
        flavor_refs(f"{where} Cohort/{name}", doc)
        seen, current = set(), name
        while current in cohorts and current not in seen:
            seen.add(current)
            current = (cohorts[current][1].get("spec") or {}).get("parentName")
        if current in seen:
            errors.append(f"{where} Cohort/{name}: the Cohort tree has a cycle through {current!r}")
    queues = by_kind.get("ClusterQueue", {})
    for name, (where, doc) in queues.items():
        spec = doc.get("spec") or {}
        cohort = spec.get("cohortName", spec.get("cohort"))
        if cohort is not None and cohort not in cohorts:
            errors.append(f"{where} ClusterQueue/{name}: cohort {cohort!r} is not a Cohort here")
        flavor_refs(f"{where} ClusterQueue/{name}", doc)
    namespaces = by_kind.get("Namespace", {})
    for _, (where, doc) in by_kind.get("LocalQueue", {}).items():
        md = doc.get("metadata") or {}
        target = (doc.get("spec") or {}).get("clusterQueue")
        if target not in queues:
            errors.append(f"{where} LocalQueue/{md.get('name')}: clusterQueue {target!r} is not a ClusterQueue here")
        if md.get("namespace") not in namespaces:
            errors.append(f"{where} LocalQueue/{md.get('name')}: namespace {md.get('namespace')!r} is not a Namespace here")
    return errors


def main(argv):
    crds, files = None, []
    args = iter(argv)
    for a in args:
        if a == "--crds":
            crds = next(args, None)
        elif a.startswith("-"):
            print(__doc__, file=sys.stderr)
            return 2
        else:
            files.append(a)
    if not crds or not files or not os.path.isdir(crds):
        print(__doc__, file=sys.stderr)
        return 2
    schemas = load_crds(crds)
    if not schemas:
        print(f"error: no CustomResourceDefinitions in {crds}", file=sys.stderr)
        return 2
    docs, errors = [], []
    for f in files:
        with open(f) as fh:
            try:
                loaded = list(yaml.safe_load_all(fh))
            except yaml.YAMLError as e:
                errors.append(f"{f}: not YAML: {e}")
                continue
        for i, doc in enumerate(loaded):
            if doc is None:
                continue
            if not isinstance(doc, dict):
                errors.append(f"{f}#{i}: not an object")
                continue
            docs.append((f"{f}#{i}", doc))
            errors.extend(check_document(doc, schemas, f"{f}#{i}"))
    errors.extend(check_references(docs))
    for e in errors:
        print("error:", e)
    print(f"{len(docs)} documents, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
