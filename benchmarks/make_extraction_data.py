"""Write the order-email extraction data set (train and held-out test), seeded and reproducible.

    .venv/bin/python benchmarks/make_extraction_data.py   # -> workflows/data/order_extraction.{train,test,test2,test3,train2}.jsonl

The test split shares no sentence template, customer name or product with the train split,
so a specialist scores on phrasings it never saw. The data are synthetic (templated) and
say nothing about real mail; they exist to measure what training changes on one fixed task.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SCHEMA = {
    "type": "object",
    "properties": {
        "customer": {"type": "string", "maxLength": 40},
        "order_id": {"type": "string", "maxLength": 12},
        "product": {"type": "string", "maxLength": 40},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 99},
        "urgency": {"enum": ["low", "normal", "high"]},
    },
    "required": ["customer", "order_id", "product", "quantity", "urgency"],
    "additionalProperties": False,
}
INSTRUCTION = "Extract the customer's name, the order id, the product, the quantity and the urgency."

TRAIN_TEMPLATES = [
    "Hi, this is {customer}. My order {order_id} for {quantity} {product} has not arrived yet.{tail}",
    "Hello team, I ordered {quantity} x {product} (order {order_id}) and only got an invoice.{tail} - {customer}",
    "Order {order_id}: {quantity} {product}. Could you check the delivery date?{tail} Regards, {customer}",
    "Dear support, {customer} here. I need to change the address for order {order_id} ({quantity} {product}).{tail}",
    "{customer} writing about {order_id}. The {quantity} {product} I bought came damaged.{tail}",
    "Good morning! Can I add {quantity} more {product} to order {order_id}?{tail} Thanks, {customer}",
    "Hey, order #{order_id} - {quantity} pieces of {product}. Tracking has not moved in days.{tail} {customer}",
    "To whom it may concern: I ({customer}) was charged twice for order {order_id}, {quantity} {product}.{tail}",
]
TEST_TEMPLATES = [
    "Hello, my name is {customer}. I am still waiting on {quantity} {product}, order number {order_id}.{tail}",
    "Re: order {order_id}. The box had {quantity} {product} but one is broken.{tail} Best, {customer}",
    "Support, please cancel {order_id} ({quantity} {product}) before it ships.{tail} Kind regards, {customer}",
    "Hi there - {customer}. Where is my {product}? I ordered {quantity} of them under {order_id}.{tail}",
]
TAILS = {
    "low": ["", " No rush.", " Whenever you have time."],
    "normal": [" Please let me know.", " Thanks in advance."],
    "high": [" This is urgent!", " I need it by tomorrow, please hurry.", " URGENT: it is for an event this week."],
}
TRAIN_NAMES = ["Anna Keller", "Ben Ortiz", "Chloe Martin", "Diego Alvarez", "Emma Schulz", "Farid Haddad",
               "Grace Liu", "Hugo Lambert", "Ines Costa", "Jonas Berg", "Kira Novak", "Liam Walsh"]
TEST_NAMES = ["Maya Rossi", "Noah Fischer", "Olga Petrova", "Pablo Ruiz", "Quinn Taylor", "Rosa Jensen"]
TRAIN_PRODUCTS = ["standing desk", "office chair", "desk lamp", "monitor arm", "keyboard", "laptop stand",
                  "bookshelf", "coffee grinder", "blender", "water bottle"]
TEST_PRODUCTS = ["wireless mouse", "floor lamp", "phone charger", "yoga mat", "kettle", "backpack"]
# A second, fresh held-out set (written 2026-11-30 before any run of the issue-9 follow-up, and
# never used to choose anything): templates, names and products in neither of the sets above.
TEST2_TEMPLATES = [
    "Good afternoon. I placed order {order_id} for {quantity} {product} and the tracking page shows nothing.{tail} {customer}",
    "{customer} again. Could someone confirm that {quantity} {product} are on the way? Ref {order_id}.{tail}",
    "Quick question about {order_id}: I was billed for {quantity} {product} but I see no shipping notice.{tail} Cheers, {customer}",
    "My parcel {order_id} ({quantity} {product}) went to the neighbours.{tail} Thank you, {customer}",
]
TEST2_NAMES = ["Sven Larsen", "Tara Singh", "Ugo Bianchi", "Vera Kovacs", "Wei Zhang", "Yusuf Demir"]
TEST2_PRODUCTS = ["electric toothbrush", "bath towel", "tea kettle set", "camping stove", "bike helmet", "throw pillow"]
# A third held-out set (written 2026-11-30 22:10 UTC, before any run of the second issue-9
# follow-up; test and test2 had been looked at): templates, names, products, an order-id prefix
# and a seed in none of the sets above. Names and products are deliberately harder to copy:
# multi-word, hyphenated, with apostrophes, digits and brand-like words.
TEST3_TEMPLATES = [
    "Hiya, {customer} from the front desk. Could you tell me when the {quantity} {product} on {order_id} will turn up?{tail}",
    "Reference {order_id} - I asked for {quantity} {product}, yet nothing has come through the door.{tail} Sincerely, {customer}",
    "Ordered {quantity} {product} last week ({order_id}). The courier says it was lost.{tail} -- {customer}",
    "Note from {customer}: shipment {order_id} is missing {quantity} {product} from the list.{tail}",
]
TEST3_NAMES = ["Siobhan O'Neill", "Jean-Luc Moreau", "Kwame Mensah", "Lucia Fernandez Ortega", "Bartholomew Kowalczyk",
               "Aiko Tanaka"]
TEST3_PRODUCTS = ["USB-C docking station", "cast iron skillet", "noise-cancelling headphones", "Zephyr X2 drone",
                  "sourdough starter kit", "pour-over coffee dripper"]

# A second TRAINING file (order_extraction.train2.jsonl, issue-9 follow-up 2): the same 8 training
# templates and tails, but customer names and products drawn from large pools, so a specialist
# has to learn to copy any value rather than recall 12 names and 10 products. Chosen on the
# validation split of the train file (benchmarks/specialize_validate.py) after the remaining
# test errors turned out to be copying errors on unseen values. The pools share no name, word
# of a name, or product word with any test set above (checked by check_disjoint()).
TRAIN2_FIRST = ["Adaeze", "Bogdan", "Camille", "Dmitri", "Eleni", "Fatima", "Gunnar", "Hana", "Ibrahim", "Jasmin",
                "Kenji", "Leilani", "Mateus", "Nadia", "Oskar", "Priya", "Rafael", "Saoirse", "Tomasz", "Ulrike",
                "Valentina", "Wiremu", "Xochitl", "Yara", "Zoltan", "Anne-Marie", "Ji-woo", "Olu", "Marguerite",
                "Thandiwe", "Ekaterina", "Lars-Erik", "Cormac", "Nkechi", "Pilar", "Hamid"]
TRAIN2_LAST = ["Okonkwo", "Nowak", "Dubois", "Ivanov", "Papadopoulos", "Rahman", "Lindqvist", "Sato", "Haddadi",
               "Moreno", "Yamamoto", "Kahale", "Oliveira", "Karimi", "Lindgren", "Raman", "Carvalho", "O'Brien",
               "Wisniewski", "Brandt", "De Luca", "Te Awa", "Hernandez", "Mansour", "Szabo", "Van der Berg",
               "Mac Giolla", "Adeyemi", "Leclerc", "Dlamini", "Smirnova", "Johansson", "Fitzgerald", "Eze",
               "Garcia Lopez", "Farahani"]
TRAIN2_PRODUCTS = [
    "label printer", "ergonomic footrest", "walnut cutting board", "HDMI 2.1 cable", "espresso tamper",
    "wall clock", "air purifier", "A4 paper ream", "LED strip light", "memory foam cushion", "whiteboard markers",
    "trouser press", "rice cooker", "hand blender", "laundry basket", "glass teapot", "paper shredder",
    "3D printer filament", "SD card reader", "Bluetooth speaker", "webcam cover", "kids' scooter", "dog leash",
    "cat scratching post", "garden hose", "tool box", "cordless drill", "picture frame", "scented candle",
    "shower curtain", "umbrella stand", "wine rack", "ice cube tray", "Nimbus T7 tablet stand", "KX-400 headset",
    "anti-glare screen filter", "Hi-Fi turntable", "solar garden light", "drawing tablet", "cable organiser",
    "fountain pen", "cork notice board", "stainless lunch box", "Aurora 5 e-reader", "mini fridge", "space heater",
    "desk organiser", "microwave oven", "duvet cover", "ring light",
]

# Order ids of several shapes (none is a test set's prefix: A is shared with the first train file).
TRAIN2_ID_PREFIXES = ["A", "ORD-", "SO", "W", "PX", "N"]


def check_disjoint() -> None:
    """The second training file's pools share nothing with any held-out set (names, name words, product words)."""
    held_names = TEST_NAMES + TEST2_NAMES + TEST3_NAMES
    held_words = {w.lower() for p in TEST_PRODUCTS + TEST2_PRODUCTS + TEST3_PRODUCTS for w in p.replace("-", " ").split()}
    name_words = {w for n in held_names for w in n.replace("-", " ").split()}
    for name in TRAIN2_FIRST + TRAIN2_LAST:
        clash = set(name.replace("-", " ").split()) & name_words
        if clash:
            raise SystemExit(f"train2 name {name!r} shares {clash} with a test set")
    for product in TRAIN2_PRODUCTS:
        clash = {w.lower() for w in product.replace("-", " ").split()} & held_words
        if clash:
            raise SystemExit(f"train2 product {product!r} shares {clash} with a test set")


def rows(n: int, templates: list[str], names: list[str], products: list[str], rng: random.Random,
         prefix: str | list[str] = "A") -> list[dict]:
    """``prefix``: the order ids' prefix, or a list to draw one per row from (the train2 file)."""
    out = []
    for _ in range(n):
        urgency = rng.choice(["low", "normal", "high"])
        fields = {
            "customer": rng.choice(names),
            "order_id": f"{prefix if isinstance(prefix, str) else rng.choice(prefix)}{rng.randint(10000, 99999)}",
            "product": rng.choice(products),
            "quantity": rng.randint(1, 12),
            "urgency": urgency,
        }
        text = rng.choice(templates).format(**fields, tail=rng.choice(TAILS[urgency]))
        out.append({"text": text, "output": fields, "schema": SCHEMA, "instruction": INSTRUCTION})
    return out


def main() -> None:
    folder = Path(__file__).resolve().parents[1] / "workflows" / "data"
    rng = random.Random(20261130)
    for split, data in {
        "train": rows(200, TRAIN_TEMPLATES, TRAIN_NAMES, TRAIN_PRODUCTS, rng),
        "test": rows(60, TEST_TEMPLATES, TEST_NAMES, TEST_PRODUCTS, rng),
    }.items():
        path = folder / f"order_extraction.{split}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in data))
        print(f"{path}: {len(data)} rows")
    # Its own seed, so the two files above stay byte-identical to the ones already committed.
    fresh = rows(60, TEST2_TEMPLATES, TEST2_NAMES, TEST2_PRODUCTS, random.Random(20261207))
    path = folder / "order_extraction.test2.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in fresh))
    print(f"{path}: {len(fresh)} rows")
    # The second training file: its own seed and pools; names are first x last combinations.
    check_disjoint()
    r2 = random.Random(20261221)
    names2 = sorted({f"{r2.choice(TRAIN2_FIRST)} {r2.choice(TRAIN2_LAST)}" for _ in range(120)})
    train2 = rows(200, TRAIN_TEMPLATES, names2, TRAIN2_PRODUCTS, r2, prefix=TRAIN2_ID_PREFIXES)
    path = folder / "order_extraction.train2.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in train2))
    print(f"{path}: {len(train2)} rows, {len({r['output']['customer'] for r in train2})} names, "
          f"{len({r['output']['product'] for r in train2})} products")
    third = rows(60, TEST3_TEMPLATES, TEST3_NAMES, TEST3_PRODUCTS, random.Random(20261214), prefix="RK")
    path = folder / "order_extraction.test3.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in third))
    print(f"{path}: {len(third)} rows")


if __name__ == "__main__":
    main()
