"""Generate the shipped practice datasets (deterministic: run it again, get the same files).

    python presets/datasets/make_datasets.py

Each dataset is a small format-following task with an answer a program can check, sized so a
135M instruct model learns it with ~60-100 LoRA steps on a CPU:

- ``json-format``: pull name / age / city out of a sentence into a fixed JSON object.
- ``sentiment-label``: answer with exactly one word: positive, negative or neutral.
- ``date-normalize``: rewrite a date written in words as ISO ``YYYY-MM-DD``.

Every dataset folder gets ``train.jsonl``, ``test.jsonl`` (rows ``{"prompt", "response"}``)
and ``meta.yaml``. Train and test never share a prompt.
"""
from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SEED = 20240611
N_TRAIN = 480
N_TEST = 50

# --------------------------------------------------------------------------- json-format

NAMES = """Maria Tomas Kenji Amara Lukas Priya Diego Sofia Omar Ingrid Chen Fatima Noah Elena Kwame Yuki
Mateo Leila Aarav Hana Pieter Zainab Oscar Ana Ravi Freya Jonas Mei Samuel Nadia Emil Aisha Hugo Clara
Tariq Lena Marco Rosa Felix Amina Ivan Julia Kofi Sara Andrei Lucia Malik Nora Pablo Greta Yusuf Alice
Dmitri Eva Hamid Iris Bruno Maya Arjun Olga Rafael Zoe Tobias Ines Viktor Chloe""".split()
CITIES = """Lisbon Osaka Nairobi Berlin Toronto Lima Oslo Cairo Madrid Seoul Dublin Lagos Prague Quito
Hanoi Vienna Denver Accra Porto Kyoto Bogota Zurich Manila Tunis Perth Leeds Austin Lyon Krakow Mumbai
Cork Helsinki Dakar Valencia Chicago Bergen Santiago Munich Istanbul Sydney Athens Boston Havana
Montreal Warsaw Glasgow Seville Naples Tallinn Riga""".split()

WITH_AGE = [
    "{name}, {age}, lives in {city}.",
    "{name} is {age} years old and lives in {city}.",
    "Meet {name} from {city}, age {age}.",
    "At {age}, {name} calls {city} home.",
    "{city} resident {name} turned {age} last month.",
    "Name: {name}. Age: {age}. Home town: {city}.",
    "{name} ({age}) moved to {city} last year.",
    "Our new colleague {name} is {age} and is based in {city}.",
    "In {city}, {age}-year-old {name} runs a small bakery.",
    "{name} from {city} just celebrated birthday number {age}.",
    "The form says {name}, age {age}, city {city}.",
    "{name} has lived in {city} since childhood and is now {age}.",
]
WITHOUT_AGE = [
    "{name} lives in {city}.",
    "{name} works in {city} as a nurse.",
    "Say hello to {name}, who just moved to {city}.",
    "{name} grew up in {city} and never left.",
]


def json_rows(rng: random.Random) -> list[dict]:
    seen: set[str] = set()
    rows = []
    while len(rows) < N_TRAIN + N_TEST:
        name, city = rng.choice(NAMES), rng.choice(CITIES)
        if rng.random() < 0.12:
            sentence, age = rng.choice(WITHOUT_AGE).format(name=name, city=city), None
        else:
            age = rng.randint(18, 89)
            sentence = rng.choice(WITH_AGE).format(name=name, age=age, city=city)
        prompt = f"Extract the person as JSON with keys name, age, city: {sentence}"
        if prompt in seen:
            continue
        seen.add(prompt)
        rows.append({"prompt": prompt, "response": json.dumps({"name": name, "age": age, "city": city})})
    return rows


# --------------------------------------------------------------------------- sentiment-label

PRODUCTS = """headphones|coffee maker|hotel room|pizza|novel|laptop|backpack|movie|bike|phone case|desk lamp|
blender|tent|running shoes|keyboard|umbrella|board game|kettle|jacket|podcast|restaurant|printer|
yoga mat|sofa|camera""".replace("\n", "").split("|")
POSITIVE = ["works perfectly", "exceeded my expectations", "is worth every penny", "made my week",
            "is the best purchase I have made this year", "feels solid and well made", "is a joy to use",
            "was even better than the reviews said", "is not bad at all, in fact it is great",
            "left me very happy", "does everything I hoped for", "is fantastic"]
NEGATIVE = ["broke after two days", "is a waste of money", "stopped working within a week",
            "was a huge disappointment", "feels cheap and flimsy", "is not worth the price",
            "made me regret buying it", "arrived damaged and support never answered",
            "is the worst I have tried", "fell apart on the first use", "is frustrating to use",
            "was far worse than advertised"]
NEUTRAL = ["arrived on {day}", "comes in a {color} box", "is about {n} centimetres wide",
           "was delivered by the usual courier", "was bought for my {relative}", "is sold in three sizes",
           "came with a printed manual", "is the {color} version", "was ordered on {day} morning",
           "weighs roughly {n} hundred grams"]
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
COLORS = "blue grey green white black red".split()
RELATIVES = "sister brother father mother cousin neighbour".split()


def _fact(rng: random.Random) -> str:
    return rng.choice(NEUTRAL).format(day=rng.choice(DAYS), color=rng.choice(COLORS),
                                      n=rng.randint(2, 9), relative=rng.choice(RELATIVES))


def sentiment_rows(rng: random.Random) -> list[dict]:
    seen: set[str] = set()
    rows = []
    labels = ["positive", "negative", "neutral"]
    while len(rows) < N_TRAIN + N_TEST:
        label = labels[len(rows) % 3]
        product = rng.choice(PRODUCTS)
        if label == "neutral":
            review = f"The {product} {_fact(rng)}. It {_fact(rng)}."
        else:
            clause = rng.choice(POSITIVE if label == "positive" else NEGATIVE)
            review = rng.choice([  # the opinion alone, or with a neutral fact before or after it
                f"The {product} {clause}.",
                f"The {product} {clause}. It {_fact(rng)}.",
                f"The {product} {_fact(rng)}. It {clause}.",
            ])
        prompt = f"Classify the sentiment of this review as positive, negative or neutral.\nReview: {review}"
        if prompt in seen:
            continue
        seen.add(prompt)
        rows.append({"prompt": prompt, "response": label})
    rng.shuffle(rows)
    return rows


# --------------------------------------------------------------------------- date-normalize

MONTHS = "January February March April May June July August September October November December".split()
ORD_WORDS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
             "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
             "eighteenth", "nineteenth", "twentieth", "twenty-first", "twenty-second", "twenty-third",
             "twenty-fourth", "twenty-fifth", "twenty-sixth", "twenty-seventh", "twenty-eighth",
             "twenty-ninth", "thirtieth", "thirty-first"]
ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _num_words(n: int) -> str:
    """0..99 in words."""
    if n < 20:
        return ONES[n]
    t, o = divmod(n, 10)
    return TENS[t] + ("" if o == 0 else "-" + ONES[o])


def _year_words(y: int) -> str:
    hi, lo = divmod(y, 100)
    if y >= 2000 and y < 2010:
        return "two thousand" + ("" if lo == 0 else " and " + ONES[lo])
    if lo == 0:
        return _num_words(hi) + " hundred"
    return _num_words(hi) + " " + ("oh-" + ONES[lo] if lo < 10 else _num_words(lo))


def _ordinal(d: int) -> str:
    suffix = "th" if 11 <= d <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    return f"{d}{suffix}"


def _date_text(rng: random.Random, day: dt.date) -> str:
    m, d, y = MONTHS[day.month - 1], day.day, day.year
    forms = [
        f"{m} {d}, {y}",
        f"{d} {m} {y}",
        f"the {_ordinal(d)} of {m}, {y}",
        f"{_ordinal(d)} {m} {y}",
        f"{m[:3]} {_ordinal(d)}, {y}",
        f"{day.strftime('%A')}, {m} {d}, {y}",
        f"{y}, {m} {d}",
        f"the {ORD_WORDS[d - 1]} of {m} {_year_words(y)}",
        f"{m} the {ORD_WORDS[d - 1]}, {y}",
    ]
    return rng.choice(forms)


def date_rows(rng: random.Random) -> list[dict]:
    seen: set[str] = set()
    rows = []
    start, span = dt.date(1950, 1, 1), (dt.date(2035, 12, 31) - dt.date(1950, 1, 1)).days
    while len(rows) < N_TRAIN + N_TEST:
        day = start + dt.timedelta(days=rng.randint(0, span))
        prompt = f"Rewrite this date as YYYY-MM-DD: {_date_text(rng, day)}"
        if prompt in seen:
            continue
        seen.add(prompt)
        rows.append({"prompt": prompt, "response": day.isoformat()})
    return rows


# --------------------------------------------------------------------------- writing

DATASETS = {
    "json-format": dict(
        make=json_rows, task="extraction", metric="json_match",
        description="Turn a short sentence about a person into the JSON object "
                    '{"name": ..., "age": ..., "city": ...} (age is null when not given). '
                    "Scored by comparing the parsed JSON: chatter or code fences around it count as wrong.",
        description_zh='把一句关于某人的短句转换成 JSON 对象 {"name": ..., "age": ..., "city": ...}（未提及年龄时 age 为 '
                       'null）。按解析后的 JSON 比较评分：JSON 前后多出的闲聊或代码块标记都算错。'),
    "sentiment-label": dict(
        make=sentiment_rows, task="classification", metric="label_match",
        description="Label a one- or two-sentence product review with exactly one word: positive, negative "
                    "or neutral. Scored on the first word of the answer.",
        description_zh="用一个词给一两句话的商品评论打标签：positive、negative 或 neutral。按回答的第一个词评分。"),
    "date-normalize": dict(
        make=date_rows, task="rewriting", metric="exact_match",
        description="Rewrite a date written in words (\"the 3rd of March, 2021\", \"March the third, "
                    "twenty twenty-one\") as ISO YYYY-MM-DD. Scored by exact match.",
        description_zh='把用文字写的日期（"the 3rd of March, 2021"、"March the third, twenty twenty-one"）改写成 ISO '
                       '格式 YYYY-MM-DD。按完全匹配评分。'),
}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main() -> None:
    for name, cfg in DATASETS.items():
        rng = random.Random(f"{SEED}-{name}")
        rows = cfg["make"](rng)
        test, train = rows[:N_TEST], rows[N_TEST:]
        assert not {r["prompt"] for r in train} & {r["prompt"] for r in test}
        out = HERE / name
        out.mkdir(exist_ok=True)
        write_jsonl(out / "train.jsonl", train)
        write_jsonl(out / "test.jsonl", test)
        meta = {"name": name, "description": cfg["description"], "description_zh": cfg["description_zh"],
                "task": cfg["task"],
                "metric": cfg["metric"], "system": None, "n_train": len(train), "n_test": len(test)}
        (out / "meta.yaml").write_text(yaml.safe_dump(meta, sort_keys=False, width=100), encoding="utf-8")
        print(f"{name}: {len(train)} train, {len(test)} test -> {out}")


if __name__ == "__main__":
    main()
