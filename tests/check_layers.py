#!/usr/bin/env python3
"""The layer rule of wscluster.h (manual: ARCHITECTURE), checked on the source: every call
from a function to another function of the header goes to the same layer or one below it.
What must go up goes through a handler pointer, which a call graph does not show.

Layers, bottom up: the pure sections (base .. link), io (io, tls, loop), proto, deliver,
cluster, backplane, public. Prints each upward call and exits 1 if there is any; with -v
also prints the section map (lines per section and layer) and the largest functions."""
import re
import sys

LAYER = {"base": 0, "sha1": 0, "utf8": 0, "http": 0, "ws": 0, "tcp": 0, "url": 0, "link": 0, "resp": 0,
         "seams": 0, "io": 1, "tls": 1, "loop": 1, "proto": 2, "deliver": 3, "cluster": 4,
         "backplane": 5, "public": 6}
NAMES = ["pure", "io", "proto", "deliver", "cluster", "backplane", "public"]


def main():
    path = "wscluster.h"
    verbose = "-v" in sys.argv
    lines = open(path, encoding="utf-8").read().split("\n")
    impl = next(i for i, l in enumerate(lines) if l.startswith("#ifdef WSCLUSTER_IMPLEMENTATION"))
    section, sect_of_line, sect_lines = None, {}, {}
    for i in range(impl, len(lines)):
        m = re.match(r"/\* >>(\w+) =", lines[i])
        if m:
            section = m.group(1)
            if section not in LAYER:
                print("check_layers: unknown section >>%s (add it to LAYER)" % section)
                return 1
        if section:
            sect_of_line[i] = section
            sect_lines[section] = sect_lines.get(section, 0) + 1
    # function definitions: a line at column 0 naming wsc_/wsc__ NAME( and a body after it
    defs, starts = {}, []
    for i in range(impl, len(lines)):
        m = re.match(r"^(?:static |WSC_DEF )[^=;(]*?\b(wsc_{1,2}\w+)\(", lines[i])
        if not m or i not in sect_of_line:
            continue
        j = i
        while j < len(lines) and not lines[j].rstrip().endswith("{") and not lines[j].rstrip().endswith(";"):
            j += 1
        if j < len(lines) and lines[j].rstrip().endswith("{"):
            defs[m.group(1)] = sect_of_line[i]
            starts.append((i, m.group(1)))
    bad, sizes = [], []
    for k, (start, name) in enumerate(starts):
        end = start + 1
        while end < len(lines) and lines[end] != "}":
            end += 1
        sizes.append((end - start + 1, name, defs[name]))
        here = LAYER[defs[name]]
        body = "\n".join(lines[start + 1:end])
        body = re.sub(r'"(?:\\.|[^"\\])*"', '""', body)       # strings
        body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)     # comments
        for callee in set(re.findall(r"\b(wsc_{1,2}\w+)\s*\(", body)):
            if callee in defs and callee != name and LAYER[defs[callee]] > here:
                bad.append("%s (>>%s, %s) calls up to %s (>>%s, %s)" % (
                    name, defs[name], NAMES[here], callee, defs[callee], NAMES[LAYER[defs[callee]]]))
    if verbose:
        per_layer = {}
        for s, n in sect_lines.items():
            per_layer[NAMES[LAYER[s]]] = per_layer.get(NAMES[LAYER[s]], 0) + n
        print("implementation lines per section: " +
              ", ".join("%s %d" % (s, sect_lines[s]) for s in LAYER if s in sect_lines))
        print("per layer: " + ", ".join("%s %d" % (l, per_layer.get(l, 0)) for l in NAMES))
        print("largest functions: " + ", ".join("%s %d (%s)" % (n, c, s)
                                                for c, n, s in sorted(sizes, reverse=True)[:12]))
    for b in sorted(bad):
        print("check_layers: " + b)
    print("check_layers: %d functions in %d sections, %d upward calls" % (len(defs), len(sect_lines), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
