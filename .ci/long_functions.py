#!/usr/bin/env python3
"""The long-function ratchet, and the file-length rule. No source file under */src/ may pass 800
lines (the protocol's declarative schema excepted). Functions over 70 lines in non-test code under */src/ may not grow
in number or in length. `.ci/long-functions.txt` lists the ones allowed today (length, file,
name); the list only shrinks: a new long function, or a listed one that grew, fails; a listed one
that shrank or went away fails too until the list is updated (so the ratchet keeps the gain).

    python3 .ci/long_functions.py            # check against the list
    python3 .ci/long_functions.py --write    # rewrite the list from the tree (only to shrink it)

A function's length counts its lines from the `fn` line to its closing brace, as rustfmt lays
them out. Test code is left out: `#[cfg(test)]` modules and `#[test]` functions.
"""
import os
import re
import sys

LIMIT = 70
FILE_LIMIT = 800
# The protocol's declarative schema: one message! block per message, long by nature.
FILE_EXCEPTIONS = {os.path.join("protocol", "src", "messages.rs")}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIST = os.path.join(ROOT, ".ci", "long-functions.txt")
FN = re.compile(r"^(\s*)(?:pub(?:\([a-z:]+\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+\"C\"\s+)?fn\s+(\w+)")


def source_files():
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel = os.path.relpath(dirpath, ROOT)
        parts = rel.split(os.sep)
        if any(p in ("target", ".git", "node_modules") for p in parts):
            dirnames[:] = []
            continue
        if "src" not in parts:
            continue
        for name in filenames:
            if name.endswith(".rs"):
                yield os.path.join(dirpath, name)


def braces(line, state):
    """The net brace depth change of a line, skipping strings, chars and comments. `state` carries
    an open string (or raw string's closing) and a block comment across lines."""
    depth = 0
    i = 0
    while i < len(line):
        if state.get("block"):
            end = line.find("*/", i)
            if end < 0:
                return depth
            state["block"] = False
            i = end + 2
            continue
        if state.get("string"):
            close = state["string"]
            if close == '"':
                if line[i] == "\\":
                    i += 2
                    continue
                if line[i] == '"':
                    state["string"] = None
                i += 1
                continue
            end = line.find(close, i)
            if end < 0:
                return depth
            state["string"] = None
            i = end + len(close)
            continue
        c = line[i]
        if line.startswith("//", i):
            return depth
        if line.startswith("/*", i):
            state["block"] = True
            i += 2
            continue
        raw = re.match(r'r(#*)"', line[i:])
        if raw and (i == 0 or not (line[i - 1].isalnum() or line[i - 1] == "_")):
            state["string"] = '"' + raw.group(1)
            i += len(raw.group(0))
            continue
        if c == '"':
            state["string"] = '"'
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", line[i:]):
            i += len(re.match(r"'(\\.|[^\\'])'", line[i:]).group(0))
            continue
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        i += 1
    return depth


def block_end(lines, start):
    """The index of the line where the block that opens at or after line `start` closes, or None
    when the item ends without a block (a declaration ending in `;`)."""
    state = {}
    depth = 0
    opened = False
    for i in range(start, len(lines)):
        change = braces(lines[i], state)
        if not opened and change == 0 and "{" not in lines[i] and lines[i].rstrip().endswith(";"):
            return None
        depth += change
        if "{" in lines[i] or depth > 0:
            opened = opened or depth > 0 or ("{" in lines[i] and "}" in lines[i])
        if opened and depth <= 0:
            return i
    return len(lines) - 1


def long_functions(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    found = []
    i = 0
    test_attr = False
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped in ("#[cfg(test)]", "#[test]"):
            test_attr = True
            i += 1
            continue
        m = FN.match(line)
        mod = re.match(r"^(\s*)(?:pub(?:\([a-z:]+\))?\s+)?mod\s+\w+\s*\{", line)
        if test_attr and (m or mod):
            end = block_end(lines, i)
            i = (end if end is not None else i) + 1
            test_attr = False
            continue
        if stripped and not stripped.startswith("#[") and not stripped.startswith("//"):
            test_attr = False
        if m:
            end = block_end(lines, i)
            if end is not None and end - i + 1 > LIMIT:
                found.append((end - i + 1, os.path.relpath(path, ROOT), m.group(2)))
        i += 1
    return found


def long_files():
    """Source files under */src/ over FILE_LIMIT lines (the schema excepted)."""
    out = []
    for path in source_files():
        rel = os.path.relpath(path, ROOT)
        n = sum(1 for _ in open(path, encoding="utf-8"))
        if n > FILE_LIMIT and rel not in FILE_EXCEPTIONS:
            out.append((n, rel))
    return sorted(out)


def main():
    current = sorted(
        (f for p in source_files() for f in long_functions(p)), key=lambda f: (f[1], f[2], -f[0])
    )
    if "--write" in sys.argv:
        with open(LIST, "w", encoding="utf-8") as out:
            out.write("# length file function — functions over %d lines; this list only shrinks\n" % LIMIT)
            for length, path, name in current:
                out.write("%d %s %s\n" % (length, path, name))
        print("wrote %d long functions to %s" % (len(current), os.path.relpath(LIST, ROOT)))
        return 0
    allowed = {}
    for line in open(LIST, encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        length, path, name = line.split()
        allowed.setdefault((path, name), []).append(int(length))
    problems = []
    seen = {}
    for length, path, name in current:
        seen.setdefault((path, name), []).append(length)
    for key, lengths in seen.items():
        limits = sorted(allowed.get(key, []), reverse=True)
        for n, length in enumerate(sorted(lengths, reverse=True)):
            if n >= len(limits):
                problems.append("new function over %d lines: %s %s (%d lines)" % (LIMIT, key[0], key[1], length))
            elif length > limits[n]:
                problems.append("grew: %s %s, %d lines (allowed %d)" % (key[0], key[1], length, limits[n]))
            elif length < limits[n]:
                problems.append("shrank: %s %s, %d lines (listed %d): update the list with --write" % (key[0], key[1], length, limits[n]))
    for key, limits in allowed.items():
        extra = len(limits) - len(seen.get(key, []))
        if extra > 0:
            problems.append("gone or under %d lines: %s %s: update the list with --write" % (LIMIT, key[0], key[1]))
    for n, rel in long_files():
        problems.append("file over %d lines: %s (%d)" % (FILE_LIMIT, rel, n))
    print("%d functions over %d lines in non-test code under */src/" % (len(current), LIMIT))
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
