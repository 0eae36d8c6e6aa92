#!/usr/bin/env python3
"""The plain-Python anchor for `allot check`'s front end.

    bench/front_end/anchor_check.py POLICY.allot

A deliberately plain script that does the structural part of what
`allot check` does on the generated policies of gen_policy.py: a regex
tokenizer, a recursive-descent parse into a tree of declarations, name
resolution, and the arithmetic invariants (children's guarantees fit their
parent's, limits nest, the root fits its pool). It proves nothing with a
solver and reports only a count. Its CPU time is the yardstick the front
end is held to in docs/benchmarks.md.
"""
import re
import sys

COMMENT = re.compile(r"//[^\n]*|#[^\n]*|/\*.*?\*/", re.DOTALL)
# One pass of re.findall over the text; the kind is told by the first character.
TOKEN = re.compile(r"""[0-9]+(?:\.[0-9]+)?[a-zA-Z]*|[a-zA-Z_](?:[a-zA-Z0-9_-]*[a-zA-Z0-9_])?|"(?:[^"\\\r\n]|\\.)*"|\.\.|==|!=|<=|>=|[{}\[\](),.<>=+\-*/]|\S""")


def kind_of(token):
    c = token[0]
    if c.isdigit():
        return "number"
    if c.isalpha() or c == "_":
        return "name"
    if c == '"':
        return "string"
    return "op"


def tokenize(text):
    out = [(kind_of(t), t) for t in TOKEN.findall(COMMENT.sub(" ", text))]
    out.append(("eof", ""))
    return out


class Parser:
    def __init__(self, tokens):
        self.t = tokens
        self.i = 0

    def peek(self):
        return self.t[self.i]

    def take(self, value=None):
        tok = self.t[self.i]
        if value is not None and tok[1] != value:
            raise SyntaxError(f"expected {value!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def file(self):
        decls, asserts = [], []
        while self.peek()[0] != "eof":
            if self.peek()[1] == "assert":
                asserts.append(self.expr_until_line())
            else:
                decls.append(self.declaration())
        return decls, asserts

    def expr_until_line(self):
        self.take("assert")
        items = []
        while self.peek()[0] != "eof" and self.peek()[1] not in ("}",):
            items.append(self.take())
            if self.peek()[1] in ("quota", "workspace", "pool", "assert"):
                break
        return items

    def declaration(self):
        kind = self.take()[1]
        name = self.take()[1]
        target = None
        if self.peek()[1] == "on":
            self.take()
            target = self.take()[1]
        decl = {"kind": kind, "name": name, "target": target, "props": {}, "children": []}
        if self.peek()[1] == "=":
            self.take()
            decl["props"]["value"] = self.value()
        else:
            self.body(decl)
        if self.peek()[1] == ",":
            self.take()
        return decl

    def body(self, decl):
        self.take("{")
        while self.peek()[1] != "}":
            name = self.take()[1]
            if self.peek()[1] == "=":
                self.take()
                decl["props"][name] = self.value()
                if self.peek()[1] == ",":
                    self.take()
            else:
                self.i -= 1
                decl["children"].append(self.declaration())
        self.take("}")

    def value(self):
        tok = self.peek()
        if tok[1] == "[":
            self.take()
            items = []
            while self.peek()[1] != "]":
                items.append(self.value())
                if self.peek()[1] == ",":
                    self.take()
            self.take("]")
            return items
        if tok[1] == "{":
            d = {"props": {}, "children": []}
            self.body(d)
            return d["props"]
        if tok[0] == "name" and self.t[self.i + 1][1] == "{":
            self.take()
            d = {"props": {}, "children": []}
            self.body(d)
            return d["props"]
        self.take()
        if tok[0] == "number" and self.peek()[1] == "x":
            self.take()
            return (int(tok[1]), self.take()[1])
        if self.peek()[1] == "..":
            self.take()
            high = self.take()[1]
            return (tok[1], high)
        return tok[1]


def number(text):
    digits = text.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return float(digits)


def bounds(value):
    if isinstance(value, tuple):
        return number(value[0]), number(value[1])
    return number(value), number(value)


def check(decls):
    problems = 0
    names = {}
    flavors, pools, priorities = {}, {}, set()
    for d in decls:
        key = (d["kind"], d["name"])
        if key in names:
            problems += 1
        names[key] = d
        if d["kind"] == "flavor":
            flavors[d["name"]] = d
        elif d["kind"] == "pool":
            pools[d["name"]] = d
        elif d["kind"] == "priority":
            priorities.add(d["name"])
    quotas = {}

    def walk(q):
        nonlocal problems
        if q["name"] in quotas:
            problems += 1
        quotas[q["name"]] = q
        lo, hi = bounds(q["props"].get("gpu", "0"))
        child_lo = child_hi_max = 0.0
        for c in q["children"]:
            if c["kind"] != "quota":
                continue
            clo, chi = walk(c)
            child_lo += clo
            child_hi_max = max(child_hi_max, chi)
        if child_lo > lo or child_hi_max > hi or lo > hi:
            problems += 1
        return lo, hi

    for d in decls:
        if d["kind"] == "quota":
            lo, _ = walk(d)
            pool = pools.get(d["target"])
            if pool is None:
                problems += 1
                continue
            count, flavor = pool["props"]["nodes"]
            capacity = count * number(flavors[flavor]["props"]["gpus"])
            if lo > capacity:
                problems += 1
    for d in decls:
        if d["kind"] != "workspace":
            continue
        if d["target"] not in quotas:
            problems += 1
        for ns in d["children"]:
            for queue in ns["children"]:
                if queue["props"].get("priority") not in priorities:
                    problems += 1
    return problems, len(quotas)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    decls, _ = Parser(tokenize(text)).file()
    problems, quotas = check(decls)
    print(f"{quotas} quotas, {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
