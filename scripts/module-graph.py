#!/usr/bin/env python3
"""Print the module graph of a Rust crate and fail when it has a cycle.

Usage: scripts/module-graph.py CRATE/src [--depth N] [--quiet]

An edge `a -> b` means non-test code in module `a` names a path `crate::b...` (or reaches
`b` through `super::`). Modules are grouped by their first N path segments (default 1,
the crate's top-level modules), and edges inside one group are ignored. Test code is left
out: items under `#[cfg(test)]`, and files declared as `#[cfg(test)] mod x;`.

Exits 0 when the graph is a DAG, 1 when it has a cycle (each strongly connected component
of more than one module is printed), 2 on bad usage. Standard library only, so CI can run
it without installing anything.
"""

import os
import re
import sys


def strip_comments_and_strings(text):
    """Blank out comments, string and char literals, keeping every newline and brace count honest."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 20]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            i = n if end < 0 else end + 1 + len(hashes)
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'":
            # A char literal ('a', '\n', '{') or a lifetime ('a): only the former is skipped.
            m = re.match(r"'(\\.[^']*|[^'\\])'", text[i:])
            if m:
                i += m.end()
                out.append("' '")
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def skip_item(text, i):
    """Index just past the item starting at i: through its matching `}` or its `;`."""
    n = len(text)
    while i < n and text[i] not in "{;":
        i += 1
    if i >= n or text[i] == ";":
        return i + 1
    depth = 0
    while i < n:
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


CFG_TEST = re.compile(r"#\[cfg\(\s*test\s*\)\]")


def drop_test_items(text):
    """Remove every item under `#[cfg(test)]`; also return the names of `#[cfg(test)] mod x;` files."""
    test_files = set()
    out, i = [], 0
    for m in CFG_TEST.finditer(text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        rest = text[m.end():]
        decl = re.match(r"\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", rest)
        if decl:
            test_files.add(decl.group(1))
        i = skip_item(text, m.end())
    out.append(text[i:])
    return "".join(out), test_files


def module_files(src):
    """Map each module path (tuple of segments) to its file, leaving out test-only files."""
    files = {}

    def visit(path, module):
        text = open(path, encoding="utf-8").read()
        code, test_mods = drop_test_items(strip_comments_and_strings(text))
        files[module] = code
        base = os.path.dirname(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem not in ("lib", "main", "mod"):
            base = os.path.join(base, stem)
        for m in re.finditer(r"(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code):
            name = m.group(1)
            if name in test_mods:
                continue
            for candidate in (os.path.join(base, name + ".rs"), os.path.join(base, name, "mod.rs")):
                if os.path.exists(candidate):
                    visit(candidate, module + (name,))
                    break

    for root in ("lib.rs", "main.rs"):
        path = os.path.join(src, root)
        if os.path.exists(path):
            visit(path, ())
    return files


def path_heads(code):
    """Yield (anchor, segments) for every `crate::` / `super::` path, expanding `{a, b::c}` groups."""
    for m in re.finditer(r"(?<![\w$])(\$?crate|(?:super::)*super)::", code):
        anchor = m.group(1).lstrip("$")
        rest = code[m.end():]
        if rest.lstrip().startswith("{"):
            start = rest.index("{")
            depth, j = 0, start
            while j < len(rest):
                depth += {"{": 1, "}": -1}.get(rest[j], 0)
                if depth == 0:
                    break
                j += 1
            # Split the top level of the group on commas.
            group, depth, item = rest[start + 1:j], 0, ""
            items = []
            for ch in group:
                if ch == "," and depth == 0:
                    items.append(item)
                    item = ""
                    continue
                depth += {"{": 1, "}": -1}.get(ch, 0)
                item += ch
            items.append(item)
            for it in items:
                segs = re.findall(r"\w+", it.split("{")[0].split(" as ")[0])
                if segs:
                    yield anchor, segs
        else:
            segs = re.match(r"\s*((?:\w+\s*::\s*)*\w+)", rest)
            if segs:
                yield anchor, [s.strip() for s in segs.group(1).split("::")]


def edges(files, depth):
    modules = set(files)
    graph = {}
    for module, code in files.items():
        here = module[:depth] if module else ("(root)",)
        graph.setdefault(here, set())
        for anchor, segs in path_heads(code):
            if anchor == "crate":
                base = ()
            else:
                ups = anchor.count("super")
                base = module[:-ups] if ups <= len(module) else ()
            target = base + tuple(segs)
            # Keep the longest prefix that names a module.
            while target and target not in modules:
                target = target[:-1]
            if not target:
                continue
            there = target[:depth]
            if there != here:
                graph[here].add(there)
    return graph


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def connect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    depth = 1
    if "--depth" in argv:
        depth = int(argv[argv.index("--depth") + 1])
        args.remove(str(depth))
    quiet = "--quiet" in argv
    if len(args) != 1 or not os.path.isdir(args[0]):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    graph = edges(module_files(args[0]), depth)
    name = lambda m: "::".join(m)
    if not quiet:
        for v in sorted(graph):
            print(f"{name(v)} -> {', '.join(name(w) for w in sorted(graph[v])) or '(none)'}")
    found = cycles(graph)
    for comp in found:
        print(f"cycle: {' <-> '.join(name(m) for m in comp)}")
    if found:
        return 1
    print(f"no cycle among {len(graph)} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
