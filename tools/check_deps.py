#!/usr/bin/env python3
"""Fails when the source files depend on each other in a circle.

The graph is file-level: a file points to each header it includes (#include "..."),
and to each source file that defines a function it names (calls, or takes the address
of). Headers never point to the source files behind them, so a circle is either headers
including each other or source files that use each other's functions. Functions are
found without a compiler: after comments, strings and preprocessor lines are blanked, a
definition is `name(...) {` at file scope (extern "C" blocks count as file scope);
static functions stay inside their file.

Usage: tools/check_deps.py [ROOT]   (ROOT defaults to the repository root)
Scans host/, cuda/, kernels/ and include/; prints each circle found, exit status 1 if
there is one, else a one-line summary and exit status 0.
"""
import os
import re
import sys

FOLDERS = ("host", "cuda", "kernels", "include")
SOURCE = (".c", ".cu")
HEADER = (".h", ".cuh")
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "defined", "__launch_bounds__"}
IDENT = re.compile(r"[A-Za-z_]\w*")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def blank(text):
    """Comments, string and character literals and preprocessor lines become spaces
    (newlines kept), so that braces and names inside them are not seen."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            if text[i - 8:i].rstrip().endswith("extern") and text[i:j] == '"C"':
                out.append(" EXTERN_C ")  # keep the marker for the scope walk
                i = j
                continue
        elif c == "#" and (i == 0 or text[:i].rstrip(" \t").endswith("\n") or not text[:i].strip()):
            j = i
            while True:  # a directive, with its continuation lines
                k = text.find("\n", j)
                if k < 0:
                    j = n
                    break
                if text[k - 1] != "\\":
                    j = k
                    break
                j = k + 1
        else:
            out.append(c)
            i += 1
            continue
        out.append(re.sub(r"[^\n]", " ", text[i:j]))
        i = j
    return "".join(out)


def definitions(code):
    """(name, is_static) of each function defined at file scope."""
    found, depth, stack, start = [], 0, [], 0
    for m in re.finditer(r"[{};]", code):
        ch = m.group()
        if ch == "{":
            head = code[start:m.start()]
            if depth == 0 and re.search(r"\bEXTERN_C\s*$", head):
                stack.append(False)  # extern "C" { ... }: still file scope
                start = m.end()
                continue
            if depth == 0:
                d = re.search(r"([A-Za-z_]\w*)\s*\([^;{}]*\)\s*(?:const\s*)?$", head)
                if d and d.group(1) not in KEYWORDS:
                    found.append((d.group(1), re.search(r"\bstatic\b", head) is not None))
            stack.append(True)
            depth += 1
        elif ch == "}":
            if stack and stack.pop():
                depth -= 1
        if depth == 0:
            start = m.end()
    return found


def scan(root):
    files = {}
    for folder in FOLDERS:
        for dirpath, _, names in os.walk(os.path.join(root, folder)):
            for name in sorted(names):
                if name.endswith(SOURCE + HEADER):
                    path = os.path.join(dirpath, name)
                    with open(path, encoding="utf-8", errors="replace") as f:
                        files[os.path.relpath(path, root)] = f.read()
    return files


def graph(files):
    by_base = {}
    for path in files:
        by_base.setdefault(os.path.basename(path), []).append(path)
    code = {p: blank(t) for p, t in files.items()}
    defined = {}  # function name -> files defining it (not static)
    for p in files:
        if p.endswith(SOURCE):
            for name, static in definitions(code[p]):
                if not static:
                    defined.setdefault(name, set()).add(p)
    edges = {p: {} for p in files}
    for p, text in files.items():
        for inc in INCLUDE.findall(text):
            for q in by_base.get(os.path.basename(inc), []):
                if q != p:
                    edges[p].setdefault(q, "includes " + os.path.basename(inc))
        if p.endswith(SOURCE):
            for name in sorted(set(IDENT.findall(code[p]))):
                owners = defined.get(name, set())
                if p in owners:
                    continue  # its own function (another file may define it for another build)
                for q in sorted(owners):
                    if q != p:
                        edges[p].setdefault(q, "uses " + name)
    return edges


def circles(edges):
    """One circle per strongly connected component with more than one file (Tarjan)."""
    index, low, on, stack, comps, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
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
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return comps


def cycle_in(comp, edges):
    """A shortest way round the component from its first file, as (file, why) steps."""
    members, start = set(comp), comp[0]
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(edges[v]):
                if w == start:
                    path, u = [(v, edges[v][w])], v
                    while prev[u] is not None:
                        path.append((prev[u], edges[prev[u]][u]))
                        u = prev[u]
                    return list(reversed(path))
                if w in members and w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return []


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    files = scan(root)
    edges = graph(files)
    comps = circles(edges)
    for comp in comps:
        print("check_deps: circle among %s:" % ", ".join(comp))
        for f, why in cycle_in(comp, edges):
            print("  %s %s ->" % (f, why))
        print("  (back to %s)" % comp[0])
    if comps:
        return 1
    print("check_deps: %d files, %d dependencies, no circle"
          % (len(files), sum(len(e) for e in edges.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
