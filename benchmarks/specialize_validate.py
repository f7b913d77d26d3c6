"""Choose a specialist's configuration on a validation split carved out of the TRAIN files only.

The held-out test files (`*.test.jsonl`, `*.test2.jsonl`) are never read here. The validation
split imitates what the test files do to a specialist: it holds out whole sentence templates
(and, for extraction, customer names and products) of the training file, so a configuration
is judged on phrasings and values it did not train on.

- extract: validation = the training file's rows written with the last 2 of its 8 templates;
  training part = its rows that use none of those templates, none of the last 3 of its 12
  names and none of the last 2 of its 10 products, topped up to 160 rows with rows from the
  same training generator and pools (seed 1). Unseen names/products in validation are scored
  separately.
- tools: validation = the training file's rows written with the last template of each tool;
  training part = the other rows.
- tools-hand: 5 folds over the hand-written `tool_choice.train3.jsonl` (row i in fold i mod 5);
  each fold trains on `train` + `train2` + the other four fifths of train3. train3 was written
  from the same request as test5 and test6, so this is the validation set for that kind of text.

    nice -n 10 .venv/bin/python benchmarks/specialize_validate.py extract [--epochs 1 --lr 2e-3 --rank 8 --layers 12]
    nice -n 10 .venv/bin/python benchmarks/specialize_validate.py tools [--method head|finetune]
    nice -n 10 .venv/bin/python benchmarks/specialize_validate.py tools-hand [--method head|finetune] [--folds 0 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
DATA = Path(__file__).resolve().parents[1] / "workflows" / "data"


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", template)
    return re.compile("".join(f"(?P<{p[1:-1]}>.*?)" if p.startswith("{") else re.escape(p) for p in parts))


def template_of(text: str, templates: list[str]) -> int:
    hits = [i for i, t in enumerate(templates) if _pattern(t).fullmatch(text)]
    if len(hits) != 1:
        raise SystemExit(f"cannot tell the template of {text!r}: {hits}")
    return hits[0]


def write(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# Validation-only values (in no train or test file): the "hard" validation rows copy these.
VAL_NAMES = ["Brigid Achterberg", "Tiago Nascimento", "Mei-Ling Chou", "Declan O'Rourke", "Oluwaseun Bakare",
             "Henrike Vogelsang", "Aarav Kulkarni", "Agnes Beaumont-Riviere"]
VAL_PRODUCTS = ["bamboo steamer", "pasta maker", "XR-9 trail camera", "linen tablecloth", "Orbit 3 smart plug",
                "ceramic planter", "film scanner", "weighted blanket"]


def extract_split(tmp: Path, train_file: str = "order_extraction.train.jsonl") -> tuple[Path, Path, Path]:
    """(training part, validation rows of the train file, hard validation rows with validation-only values)."""
    import make_extraction_data as gen

    val_t = set(range(len(gen.TRAIN_TEMPLATES) - 2, len(gen.TRAIN_TEMPLATES)))
    # The validation rows are always the first train file's rows of the 2 held-out templates, so
    # configurations trained on either train file are judged on the same rows.
    old = [json.loads(line) for line in (DATA / "order_extraction.train.jsonl").open()]
    val = [r for r in old if template_of(r["text"], gen.TRAIN_TEMPLATES) in val_t]
    val_names, val_products = set(gen.TRAIN_NAMES[-3:]), set(gen.TRAIN_PRODUCTS[-2:])
    rows = [json.loads(line) for line in (DATA / train_file).open()]
    train = [r for r in rows if template_of(r["text"], gen.TRAIN_TEMPLATES) not in val_t
             and r["output"]["customer"] not in val_names and r["output"]["product"] not in val_products]
    kept = [t for i, t in enumerate(gen.TRAIN_TEMPLATES) if i not in val_t]
    if train_file == "order_extraction.train.jsonl":
        pools = ([n for n in gen.TRAIN_NAMES if n not in val_names], [p for p in gen.TRAIN_PRODUCTS if p not in val_products])
        train += gen.rows(160 - len(train), kept, *pools, random.Random(1))
    else:
        names = sorted({r["output"]["customer"] for r in rows} - val_names)
        products = sorted({r["output"]["product"] for r in rows} - val_products)
        train += gen.rows(160 - len(train), kept, names, products, random.Random(1), prefix=gen.TRAIN2_ID_PREFIXES)
    hard = gen.rows(40, [gen.TRAIN_TEMPLATES[i] for i in sorted(val_t)], VAL_NAMES, VAL_PRODUCTS, random.Random(2))
    print(f"extract ({train_file}): {len(train)} training rows, {len(val)} validation rows "
          f"({sum(r['output']['customer'] in val_names for r in val)} with an unseen name, "
          f"{sum(r['output']['product'] in val_products for r in val)} with an unseen product), "
          f"{len(hard)} hard validation rows (validation-only names and products)")
    return write(train, tmp / "train.jsonl"), write(val, tmp / "val.jsonl"), write(hard, tmp / "hard.jsonl")


def tools_split(tmp: Path, fold: int = -1) -> tuple[Path, Path]:
    """Fold k holds out the k-th template of every tool (-1: the last one)."""
    import make_tool_data as gen

    rows = [json.loads(line) for line in (DATA / "tool_choice.train.jsonl").open()]
    train, val = [], []
    for r in rows:
        templates = gen.TRAIN[r["tool_call"]["name"]]
        k = fold if fold >= 0 else len(templates) - 1
        (val if template_of(r["text"], templates) == k else train).append(r)
    print(f"tools fold {fold}: {len(train)} training rows, {len(val)} validation rows")
    return write(train, tmp / f"train{fold}.jsonl"), write(val, tmp / f"val{fold}.jsonl")


def _tool_descriptions() -> dict[str, str]:
    import make_tool_data as gen

    return {t["name"]: t["description"] for t in gen.TOOLS}


TOOL_DESCRIPTIONS = _tool_descriptions()


def template_folds(tmp: Path, folds: list[int]) -> Iterator[tuple[int, Path, Path]]:
    """Leave-one-template-out over the training file (5 folds: every row is validation once)."""
    for fold in folds:
        yield fold, *tools_split(tmp, fold)


def hand_folds(tmp: Path, folds: list[int]) -> Iterator[tuple[int, Path, Path]]:
    """K-fold over the hand-written train3 file, the templated files always in the training part."""
    base = [json.loads(line) for f in ("tool_choice.train.jsonl", "tool_choice.train2.jsonl")
            for line in (DATA / f).open()]
    hand = [json.loads(line) for line in (DATA / "tool_choice.train3.jsonl").open()]
    for fold in folds:
        val = [r for i, r in enumerate(hand) if i % 5 == fold]
        train = base + [r for i, r in enumerate(hand) if i % 5 != fold]
        yield fold, write(train, tmp / f"train{fold}.jsonl"), write(val, tmp / f"val{fold}.jsonl")


def tools_folds(args: argparse.Namespace, tmp: Path, registry: object,
                folds: Iterator[tuple[int, Path, Path]]) -> None:
    """Train the tool-choice classifier on each fold's training part and score its validation part."""
    from specialize_lora import as_classify

    from agents.specialists.train import train_classifier

    right = total = 0
    times = []
    for fold, train, val in folds:
        res = train_classifier(f"val{fold}", base="minilm", data=as_classify(train, tmp / f"tr{fold}.jsonl"),
                               eval_data=as_classify(val, tmp / f"va{fold}.jsonl"), threads=args.threads,
                               registry=registry, method=args.method, zero_shot=False,
                               label_descriptions=None if args.no_descriptions else TOOL_DESCRIPTIONS,
                               finetune_layers=args.ft_layers, finetune_epochs=args.ft_epochs, finetune_lr=args.ft_lr)
        n = res.metrics["eval_rows"]
        right += round(res.metrics["accuracy"] * n)
        total += n
        times.append(res.metrics["train_s"])
        print(f"fold {fold}: accuracy {res.metrics['accuracy']:.3f} of {n}, {res.metrics['per_label_accuracy']}, "
              f"{res.metrics['train_s']} s", flush=True)
    print(f"{args.task} accuracy ({args.method}) {right}/{total} = {right / total:.3f}; train s {times}")


def _progress(stage: str, done: int, total: int) -> None:
    if done == total or done % 5 == 0:
        print(f"{time.strftime('%H:%M:%S')} {stage} {done}/{total} load {os.getloadavg()[0]:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["extract", "tools", "tools-cv", "tools-hand", "tool-lora"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--method", default="head")
    parser.add_argument("--ft-layers", type=int, default=2)
    parser.add_argument("--ft-epochs", type=int, default=8, help="tools-cv/tools-hand, finetune: encoder epochs")
    parser.add_argument("--ft-lr", type=float, default=1e-4, help="tools-cv/tools-hand, finetune: encoder learning rate")
    parser.add_argument("--space-weight", type=float, default=0.0,
                        help="extract: weight of the unlikelihood of a leading space in string values")
    parser.add_argument("--train-file", nargs="+", default=["order_extraction.train.jsonl"],
                        help="extract: training files of workflows/data (validation rows stay the first file's)")
    parser.add_argument("--extractive", choices=["auto", "on", "off"], default="auto",
                        help="extract/tool-lora: hold free string fields to spans of the input (auto: when the data copies)")
    parser.add_argument("--no-descriptions", action="store_true",
                        help="tools-cv: train without the tool descriptions as examples (the old way)")
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()

    from agents.specialists.registry import Registry

    registry = Registry(tempfile.mkdtemp(prefix="slmflow-validate-"))
    tmp = Path(tempfile.mkdtemp())
    print(f"load {os.getloadavg()[0]:.1f}, {args.threads} threads, {vars(args)}")
    t = time.perf_counter()
    extractive = {"auto": None, "on": True, "off": False}[args.extractive]
    if args.task == "extract":
        from specialize_lora import score_adapter

        from agents.specialists.adapters import train_adapter

        parts = []
        for i, name in enumerate(args.train_file):
            (tmp / str(i)).mkdir()
            parts.append(extract_split(tmp / str(i), name))
        train, val, hard = parts[0]
        if len(parts) > 1:  # several training files: their training parts together
            train = write([json.loads(line) for p in parts for line in p[0].open()], tmp / "train.jsonl")
        res = train_adapter("val", task="extract", base="smollm2", data=train, eval_data=val, threads=args.threads,
                            registry=registry, epochs=args.epochs, lr=args.lr, rank=args.rank, layers=args.layers,
                            compare_base=False, progress=_progress, space_weight=args.space_weight,
                            extractive=extractive)
        res.metrics["hard"] = score_adapter(Path(res.path), "extract", hard, args.threads, base=False)
    elif args.task == "tool-lora":
        from agents.specialists.adapters import train_adapter

        for fold in args.folds:
            train, val = tools_split(tmp, fold)
            res = train_adapter(f"val{fold}", task="tool_call", base="smollm2", data=train, eval_data=val,
                                threads=args.threads, registry=registry, epochs=args.epochs, lr=args.lr,
                                rank=args.rank, layers=args.layers, compare_base=False, progress=_progress,
                                extractive=extractive)
            m = res.metrics
            print(f"fold {fold}: tool accuracy {m['tool_accuracy']} of {m['eval_rows']}, exact call "
                  f"{m['exact_match']}, train {m['train_s']} s; mistakes {json.dumps(m['mistakes'][:3])}", flush=True)
    elif args.task in ("tools-cv", "tools-hand"):
        split = template_folds if args.task == "tools-cv" else hand_folds
        tools_folds(args, tmp, registry, split(tmp, args.folds))
        print(f"total {time.perf_counter() - t:.0f} s, load now {os.getloadavg()[0]:.1f}")
        return
    else:
        from specialize_lora import as_classify

        from agents.specialists.train import train_classifier

        train, val = tools_split(tmp)
        res = train_classifier("val", base="minilm", data=as_classify(train, tmp / "tr.jsonl"),
                               eval_data=as_classify(val, tmp / "va.jsonl"), threads=args.threads, registry=registry,
                               method=args.method)
    print(json.dumps(res.metrics, indent=1))
    print(f"total {time.perf_counter() - t:.0f} s, load now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
