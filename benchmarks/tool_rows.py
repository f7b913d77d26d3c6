"""Check hand-written tool-choice rows and write them as a data file (test4-6, train3).

Each writer script holds its rows as ``(text, tool name, arguments)`` and calls ``write_rows``:
the same checks for every file (tools balanced, texts and ids unique, the id and the city
copied verbatim from the text, valid refund reasons), then a seeded shuffle into
``workflows/data``, so a file is reproduced byte for byte from its script.
"""

from __future__ import annotations

import collections
import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tool_data import TOOLS

DATA = Path(__file__).resolve().parents[1] / "workflows" / "data"
S, C, A, R = "get_order_status", "cancel_order", "change_address", "refund_order"
REASONS = ("damaged", "late", "wrong_item", "other")

Row = tuple[str, str, dict[str, str]]


def write_rows(rows: list[Row], name: str, *, id_prefix: str, seed: int) -> Path:
    """Check ``rows`` and write them to ``workflows/data/<name>``, shuffled with ``seed``."""
    tools = {t["name"]: t for t in TOOLS}
    per_tool = len(rows) // len(tools)
    cnt = collections.Counter(r[1] for r in rows)
    assert all(cnt[n] == per_tool for n in tools) and sum(cnt.values()) == len(rows), cnt
    assert len({r[0] for r in rows}) == len(rows), "texts repeat"
    assert len({r[2]["order_id"] for r in rows}) == len(rows), "order ids repeat"
    cities = set()
    for text, tool, args in rows:
        assert set(args) == set(tools[tool]["parameters"]["required"]), (text, args)
        assert re.fullmatch(rf"{id_prefix}\d{{5}}", args["order_id"]), args
        assert re.findall(rf"{id_prefix}\d+", text) == [args["order_id"]], text
        if tool == A:
            assert args["city"] in text, text
            cities.add(args["city"])
        if tool == R:
            assert args["reason"] in REASONS, args
    assert len(cities) >= 10 and sum(" " in c for c in cities) >= 3, cities

    out = [{"text": t, "tools": TOOLS, "tool_call": {"name": n, "arguments": a}} for t, n, a in rows]
    random.Random(seed).shuffle(out)
    path = DATA / name
    with path.open("w") as f:
        for r in out:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print("ok", dict(cnt), "cities", len(cities),
          "reasons", dict(collections.Counter(a["reason"] for _, n, a in rows if n == R)))
    return path
