"""Summarises bench/zoo/manifest.json: the union of op types per exporter (with the opset and the
models using each op) and the export failures, as markdown.

    /work/venv/bin/python bench/crosscheck/zoo/summary.py [dynamo|legacy]
"""
import collections
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "..", "zoo"))

manifest = json.load(open(os.path.join(OUT, "manifest.json")))
exporters = sys.argv[1:] or ["dynamo", "legacy"]
for exporter in exporters:
    recs = [m for m in manifest if m["exporter"] == exporter and "error" not in m]
    users = collections.defaultdict(list)
    counts = collections.Counter()
    opsets = collections.Counter(m["opset"] for m in recs)
    for m in recs:
        for op, k in m["ops"].items():
            users[op].append(m["model"])
            counts[op] += k
    print(f"## {exporter}: {len(recs)} exports, opsets {dict(opsets)}, "
          f"{len(users)} op types\n")
    print("| op | nodes | models |\n| --- | --- | --- |")
    for op in sorted(users):
        models = users[op]
        shown = "all" if len(models) == len(recs) else ", ".join(models)
        print(f"| {op} | {counts[op]} | {shown} |")
    ext = [m["model"] for m in recs if m.get("externalData")]
    print(f"\nexternal data: {', '.join(ext) or 'none'}")
    fails = [m for m in manifest if m["exporter"] == exporter and "error" in m]
    for m in fails:
        print(f"export failed: {m['model']}: {m['error']}")
    print()
