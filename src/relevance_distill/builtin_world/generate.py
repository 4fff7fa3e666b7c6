"""Built-in local-services search data: the embedded default data of the main job.

A seeded, deterministic generator of a city's local-services platform (food, beauty, leisure, home
services, pets) with English and Chinese queries. Labels follow documented rules, and each labelled pair
carries a gold reasoning chain written from the same rules, in the query's language:

* the service's category group differs from the query's intent       -> ``irrelevant``
* same group, different kind of service (e.g. sushi for 'hotpot')     -> ``weak``
* right kind of service, two or more stated requirements unmet        -> ``weak``
* right kind of service, exactly one stated requirement unmet         -> ``relevant``
* right kind of service, every stated requirement met                 -> ``exact``

Requirements a query can state: a district, a feature (private room, delivery, open late, …) and a price
ceiling. A feature counts as offered only when the service's attributes list it; descriptions mention only
some of them, as on real platforms, so a model has to read the structured fields.

Outputs (``generate_dataset``): ``services.jsonl``, ``labeled.jsonl`` (gold pairs with reasoning),
``search_logs.jsonl`` (unlabelled pairs to annotate), ``corpus.jsonl`` (platform text for continued
pre-training) and ``generation.json`` (config and counts).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relevance_distill.config import DataGenerationConfig
from relevance_distill.data.readers import write_jsonl
from relevance_distill.schemas import QueryServicePair, Service, make_pair_id


@dataclass(frozen=True)
class Kind:
    group: str
    group_zh: str
    key: str
    names_en: tuple[str, ...]
    names_zh: tuple[str, ...]
    price: tuple[int, int]


KINDS: tuple[Kind, ...] = (
    Kind("Food", "美食", "hotpot", ("hotpot", "hot pot", "shabu shabu"), ("火锅", "涮锅"), (60, 220)),
    Kind("Food", "美食", "sushi", ("sushi", "japanese sushi", "omakase"), ("寿司", "日料"), (50, 400)),
    Kind("Food", "美食", "noodles", ("noodle shop", "ramen", "beef noodles"), ("面馆", "拉面", "牛肉面"), (15, 60)),
    Kind("Food", "美食", "bbq", ("bbq", "barbecue", "korean bbq"), ("烧烤", "烤肉"), (50, 200)),
    Kind("Food", "美食", "coffee", ("coffee shop", "cafe", "espresso bar"), ("咖啡", "咖啡馆"), (20, 60)),
    Kind("Food", "美食", "bakery", ("bakery", "bread shop", "cake shop"), ("面包店", "蛋糕店"), (15, 80)),
    Kind("Beauty", "丽人", "hair", ("hair salon", "haircut", "barber"), ("美发", "理发", "剪发"), (40, 300)),
    Kind("Beauty", "丽人", "nails", ("nail salon", "manicure", "gel nails"), ("美甲", "做指甲"), (60, 300)),
    Kind("Beauty", "丽人", "spa", ("spa", "day spa", "facial"), ("水疗", "美容院", "做脸"), (150, 800)),
    Kind("Beauty", "丽人", "massage", ("massage", "foot massage", "thai massage"), ("按摩", "足疗", "推拿"), (80, 400)),
    Kind("Leisure", "休闲娱乐", "ktv", ("karaoke", "ktv"), ("KTV", "唱歌"), (80, 400)),
    Kind("Leisure", "休闲娱乐", "escape", ("escape room", "room escape"), ("密室逃脱", "密室"), (80, 200)),
    Kind("Leisure", "休闲娱乐", "cinema", ("cinema", "movie theater", "imax"), ("电影院", "影城"), (35, 120)),
    Kind("Leisure", "休闲娱乐", "gym", ("gym", "fitness center", "personal trainer"), ("健身房", "私教"), (50, 400)),
    Kind("Leisure", "休闲娱乐", "yoga", ("yoga studio", "yoga class", "pilates"), ("瑜伽", "普拉提"), (80, 300)),
    Kind("Home", "生活服务", "cleaning", ("house cleaning", "cleaning service", "maid service"), ("保洁", "家政", "打扫卫生"), (100, 500)),
    Kind("Home", "生活服务", "plumbing", ("plumber", "pipe repair", "drain unclogging"), ("管道疏通", "水管维修", "通下水道"), (80, 400)),
    Kind("Home", "生活服务", "appliance", ("appliance repair", "washing machine repair", "ac repair"), ("家电维修", "空调维修", "洗衣机维修"), (60, 500)),
    Kind("Home", "生活服务", "moving", ("movers", "moving company", "moving service"), ("搬家", "搬家公司"), (300, 2000)),
    Kind("Pets", "宠物", "grooming", ("pet grooming", "dog grooming", "cat grooming"), ("宠物美容", "狗狗洗澡", "猫咪洗澡"), (60, 300)),
    Kind("Pets", "宠物", "vet", ("vet", "animal hospital", "pet clinic"), ("宠物医院", "兽医"), (100, 800)),
)

FEATURES: dict[str, tuple[tuple[str, str], ...]] = {
    "Food": (("private room", "包间"), ("delivery", "外卖"), ("open late", "营业到深夜"), ("kid friendly", "适合带娃"), ("vegetarian options", "有素食")),
    "Beauty": (("walk-in", "无需预约"), ("open late", "营业到深夜"), ("parking", "停车方便"), ("women only", "女士专属")),
    "Leisure": (("open late", "营业到深夜"), ("parking", "停车方便"), ("group discount", "团购优惠"), ("kid friendly", "适合带娃")),
    "Home": (("same-day service", "当天上门"), ("weekend service", "周末服务"), ("warranty", "保修"), ("licensed", "持证上岗")),
    "Pets": (("same-day service", "当天上门"), ("parking", "停车方便"), ("24 hours", "24小时营业"), ("home visit", "上门服务")),
}

DISTRICTS: tuple[tuple[str, str], ...] = (
    ("Chaoyang", "朝阳"), ("Haidian", "海淀"), ("Dongcheng", "东城"), ("Xicheng", "西城"),
    ("Fengtai", "丰台"), ("Tongzhou", "通州"), ("Shunyi", "顺义"),
)

MERCHANT_WORDS_EN = ("Golden", "Happy", "Lucky", "Green", "Blue Sky", "Old Town", "Sunny", "Jade", "Red Lantern",
                     "Silver", "Maple", "Harbor", "Lotus", "Panda", "Bamboo", "Phoenix", "River", "Star")
MERCHANT_WORDS_ZH = ("金鼎", "福满", "好运来", "青山", "蓝天", "老城", "阳光", "玉兰", "红灯笼", "银河", "枫叶",
                     "海港", "莲花", "熊猫", "竹林", "凤凰", "江畔", "星辰")

LABELS = ("irrelevant", "weak", "relevant", "exact")


@dataclass(frozen=True)
class Intent:
    kind: Kind
    district: int | None
    feature: int | None
    max_price: int | None
    language: str
    text: str


def _make_service(rng: random.Random, index: int, kind: Kind, chinese_share: float) -> Service:
    zh = rng.random() < chinese_share
    district = rng.randrange(len(DISTRICTS))
    features = FEATURES[kind.group]
    offered = sorted(rng.sample(range(len(features)), rng.randint(0, min(3, len(features)))))
    low, high = kind.price
    price = float(round(rng.uniform(low, high)))
    if zh:
        merchant = rng.choice(MERCHANT_WORDS_ZH)
        name = rng.choice(kind.names_zh)
        title = f"{merchant}{name}({DISTRICTS[district][1]}店)"
        category = f"{kind.group_zh} > {kind.names_zh[0]}"
        location = f"{DISTRICTS[district][1]}区"
        mentioned = [features[i][1] for i in offered if rng.random() < 0.6]
        description = f"{merchant}{name},位于{location}。" + (f"特色:{'、'.join(mentioned)}。" if mentioned else "") + f"人均约{price:g}元。"
        feature_values = ", ".join(features[i][1] for i in offered)
    else:
        merchant = rng.choice(MERCHANT_WORDS_EN)
        name = rng.choice(kind.names_en)
        title = f"{merchant} {name.title()} ({DISTRICTS[district][0]})"
        category = f"{kind.group} > {kind.names_en[0].title()}"
        location = f"{DISTRICTS[district][0]} District"
        mentioned = [features[i][0] for i in offered if rng.random() < 0.6]
        description = f"{merchant} {name} in {location}." + (f" We offer {', '.join(mentioned)}." if mentioned else "") + f" About {price:g} per person."
        feature_values = ", ".join(features[i][0] for i in offered)
    attributes = {"kind": kind.key, "district": DISTRICTS[district][0]}
    if feature_values:
        attributes["features"] = feature_values
    return Service(
        service_id=f"svc-{index:05d}",
        title=title,
        category=category,
        description=description,
        attributes=attributes,
        merchant=merchant,
        location=location,
        price=price,
    )


def district_index(name: str) -> int | None:
    """The index in DISTRICTS of a district written in either language; None for another name."""
    return next((i for i, forms in enumerate(DISTRICTS) if name in forms), None)


def _kind_of(service: Service) -> Kind:
    return next(k for k in KINDS if k.key == service.attributes["kind"])


def _service_district(service: Service) -> int:
    return next(i for i, (en, _) in enumerate(DISTRICTS) if en == service.attributes["district"])


def _service_features(service: Service, kind: Kind) -> set[int]:
    listed = service.attributes.get("features", "")
    names = {part.strip() for part in listed.split(",") if part.strip()}
    return {i for i, (en, zh) in enumerate(FEATURES[kind.group]) if en in names or zh in names}


def _make_intent(rng: random.Random, chinese_share: float) -> Intent:
    kind = rng.choice(KINDS)
    zh = rng.random() < chinese_share
    district = rng.randrange(len(DISTRICTS)) if rng.random() < 0.45 else None
    feature = rng.randrange(len(FEATURES[kind.group])) if rng.random() < 0.4 else None
    low, high = kind.price
    max_price = None
    if rng.random() < 0.25:
        max_price = max(10, int(round(rng.uniform(low, high), -1)))
    name = rng.choice(kind.names_zh if zh else kind.names_en)
    if zh:
        parts = [DISTRICTS[district][1] if district is not None else "", name]
        if feature is not None:
            parts.append(FEATURES[kind.group][feature][1])
        if max_price is not None:
            parts.append(f"{max_price}元以内")
        text = " ".join(part for part in parts if part)
    else:
        text = name
        if feature is not None:
            text += f" with {FEATURES[kind.group][feature][0]}"
        if max_price is not None:
            text = rng.choice([f"{text} under {max_price}", f"cheap {text} under {max_price}"])
        if district is not None:
            text += rng.choice([f" in {DISTRICTS[district][0]}", f" near {DISTRICTS[district][0]}"])
    return Intent(kind, district, feature, max_price, "zh" if zh else "en", text)


def digit_comparison(price: int, ceiling: int) -> str:
    """PRICE against CEILING the way one compares on paper, e.g. ``095 vs 120: 0<1`` or ``125 vs 120: 1=1, 2=2, 5>0``:
    both written to the same width, then digit pairs from the left up to the first that differs.

    Each step is a lookup a small decoder can learn from a few hundred chains; comparing two numbers of different
    lengths in one step is not (the strong teachers compared prices they had copied right 11 times in 21).
    """
    width = max(len(str(price)), len(str(ceiling)))
    left, right = str(price).zfill(width), str(ceiling).zfill(width)
    steps = []
    for a, b in zip(left, right):
        steps.append(f"{a}{'<' if a < b else '>' if a > b else '='}{b}")
        if a != b:
            break
    return f"{left} vs {right}: {', '.join(steps)}"


# A digit_comparison as written in a chain: the two numbers (as written, zero-padded) and the steps.
DIGIT_COMPARISON = re.compile(r"(?<!\d)(\d+) vs (\d+): \d[<=>]\d(?:, \d[<=>]\d)*")
_NUMBER = re.compile(r"\d+")


def without_digit_steps(text: str) -> str:
    """TEXT with each digit comparison written as the two numbers it compares, unpadded (``095 vs 120: 0<1`` ->
    ``95 120``): the numbers a chain states, which the query and service hold."""
    return DIGIT_COMPARISON.sub(lambda m: f"{int(m.group(1))} {int(m.group(2))}", text)


def compared_numbers(text: str) -> list[int]:
    """Every number of TEXT in order, a digit comparison counting as the two numbers it compares (not its steps)."""
    return [int(n) for n in _NUMBER.findall(without_digit_steps(text))]


def shift_numbers(text: str, offset: int) -> str:
    """Every number of TEXT plus OFFSET; each digit comparison is written again for the shifted pair, so its steps
    stay true (shifting the digits of its steps one by one would not)."""
    def shift(part: str) -> str:
        return _NUMBER.sub(lambda m: str(int(m.group(0)) + offset), part)

    out, last = [], 0
    for match in DIGIT_COMPARISON.finditer(text):
        out += [shift(text[last:match.start()]), digit_comparison(int(match.group(1)) + offset, int(match.group(2)) + offset)]
        last = match.end()
    return "".join(out) + shift(text[last:])


# A location check of `judge` whose two districts are the same, in either language: 15 % of the built-in training
# pairs' location checks, so a teacher can score well by calling every district "not met" (the six-layer strong teacher,
# seed 1, got 15 of the 16 equal districts of the test split wrong); `SFTStageConfig.oversample_pattern` can show these
# more often (it did not help: README "Evidence").
EQUAL_DISTRICT_CHECK = r"asked for (\w+), service is in \1:|要求(\w+),商户在\2,"


def judge(intent: Intent, service: Service) -> tuple[str, str]:
    """The labelling rules of the module docstring; returns (label, gold reasoning in the query's language)."""
    kind = _kind_of(service)
    zh = intent.language == "zh"
    wanted = intent.kind.names_zh[0] if zh else intent.kind.names_en[0]
    offered = kind.names_zh[0] if zh else kind.names_en[0]
    if kind.group != intent.kind.group:
        group_q = intent.kind.group_zh if zh else intent.kind.group
        group_s = kind.group_zh if zh else kind.group
        if zh:
            return "irrelevant", f"查询想找{wanted}({group_q}类)。该商户是{offered}({group_s}类),类别完全不同,无法满足需求。因此判定为不相关。"
        return "irrelevant", f"The query asks for {wanted} ({group_q}). The service is {offered} ({group_s}), a different kind of business that cannot serve this need. So the label is irrelevant."
    if kind.key != intent.kind.key:
        if zh:
            return "weak", f"查询想找{wanted}。该商户属于同一大类({kind.group_zh}),但提供的是{offered},不是用户要的服务。因此判定为弱相关。"
        return "weak", f"The query asks for {wanted}. The service is in the same area ({kind.group}) but offers {offered}, not what the user wants. So the label is weak."

    checks: list[tuple[bool, str]] = []
    if intent.district is not None:
        ok = _service_district(service) == intent.district
        want_d = DISTRICTS[intent.district][1 if zh else 0]
        have_d = DISTRICTS[_service_district(service)][1 if zh else 0]
        checks.append((ok, (f"位置:要求{want_d},商户在{have_d},{'满足' if ok else '不满足'}。") if zh
                       else f"Location: asked for {want_d}, service is in {have_d}: {'met' if ok else 'not met'}."))
    if intent.feature is not None:
        ok = intent.feature in _service_features(service, kind)
        feature = FEATURES[kind.group][intent.feature][1 if zh else 0]
        checks.append((ok, (f"{feature}:{'商户提供' if ok else '商户未提供'}。") if zh
                       else f"{feature.capitalize()}: {'offered' if ok else 'not offered'}."))
    if intent.max_price is not None:
        ok = service.price is not None and service.price <= intent.max_price
        steps = digit_comparison(round(service.price), intent.max_price)
        checks.append((ok, (f"价格:要求{intent.max_price}元以内,人均{service.price:g}元,逐位比较{steps},{'满足' if ok else '超出'}。") if zh
                       else f"Price: asked for under {intent.max_price}, service costs {service.price:g}; {steps}: {'met' if ok else 'too expensive'}."))
    unmet = sum(1 for ok, _ in checks if not ok)
    label = "exact" if unmet == 0 else "relevant" if unmet == 1 else "weak"
    details = " ".join(text for _, text in checks)
    if zh:
        verdict = {"exact": "所有要求都满足,判定为完全相关。", "relevant": "服务类型正确,但有一项要求不满足,判定为相关。",
                   "weak": "服务类型正确,但有多项要求不满足,判定为弱相关。"}[label]
        return label, f"查询想找{wanted},该商户正是{offered}。" + (details + " " if details else "") + verdict
    verdict = {"exact": "Every requirement is met, so the label is exact.",
               "relevant": "The kind of service is right but one requirement is not met, so the label is relevant.",
               "weak": "The kind of service is right but several requirements are not met, so the label is weak."}[label]
    return label, f"The query asks for {wanted} and the service is {offered}. " + (details + " " if details else "") + verdict


_KIND_SENTENCE = re.compile(r"^The query asks for (?P<en>[^.]+?) (?:and the service|\. The service)|^查询想找(?P<zh>[^,。]+)")
_ASKED_DISTRICT = re.compile(r"Location: asked for (\w+),|位置:要求(\w+),")
_ASKED_FEATURE = re.compile(r"(?:^|\. |。 ?| )(?P<name>[^.。:]+?):(?: (?:offered|not offered)\.|(?:商户提供|商户未提供)。)")
_ASKED_PRICE = re.compile(r"asked for under (\d+),|价格:要求(\d+)元以内")


def intent_of(pair: QueryServicePair) -> Intent | None:
    """The intent behind a built-in gold pair, read back from its chain; None when the chain is not one `judge`
    writes for this pair (other data, or a pair whose checks the chain does not list: another kind of service)."""
    if not pair.reasoning or pair.language not in ("en", "zh"):
        return None
    zh = pair.language == "zh"
    sentence = _KIND_SENTENCE.search(pair.reasoning)
    wanted = sentence and (sentence.group("zh") if zh else sentence.group("en"))
    kind = next((k for k in KINDS if wanted == (k.names_zh[0] if zh else k.names_en[0])), None)
    if kind is None:
        return None
    district = _ASKED_DISTRICT.search(pair.reasoning)
    asked_district = district_index(district.group(2) if zh else district.group(1)) if district else None
    feature = _ASKED_FEATURE.search(pair.reasoning)
    names = [forms[1 if zh else 0] for forms in FEATURES[kind.group]]
    feature_index = None
    if feature:
        written = feature.group("name").strip()
        feature_index = next((i for i, name in enumerate(names) if written in (name, name.capitalize())), None)
    price = _ASKED_PRICE.search(pair.reasoning)
    intent = Intent(kind, asked_district, feature_index, int(price.group(2) if zh else price.group(1)) if price else None,
                    pair.language, pair.query)
    try:
        rejudged = judge(intent, pair.service)
    except (KeyError, StopIteration, TypeError):
        return None
    return intent if rejudged == (pair.label, pair.reasoning) else None


def with_district(service: Service, district: int) -> Service:
    """SERVICE moved to DISTRICT: every form of its district's name rewritten (title, location, description,
    attributes)."""
    current = _service_district(service)
    text = service.model_dump_json()
    for old, new in zip(DISTRICTS[current], DISTRICTS[district]):
        text = text.replace(old, new)
    return Service.model_validate_json(text)


# The checks `counterfactual_pairs` can flip, each by one edit of the service.
COUNTERFACTUAL_CHECKS = ("district", "feature", "price")


_MENTIONED_EN = re.compile(r" We offer ([^.]+)\.")
_MENTIONED_ZH = re.compile(r"特色:([^。]+)。")


def with_features(service: Service, offered: set[int]) -> Service:
    """SERVICE offering exactly the features OFFERED (indices into its group's FEATURES): the attribute list rewritten
    in the service's language; its description keeps mentioning those of its mentions still offered (a feature added
    is not mentioned, as descriptions mention only some)."""
    kind = _kind_of(service)
    zh = service.category.startswith(kind.group_zh)
    names = [forms[1 if zh else 0] for forms in FEATURES[kind.group]]
    pattern = _MENTIONED_ZH if zh else _MENTIONED_EN
    found = pattern.search(service.description)
    mentioned = [part.strip() for part in found.group(1).split("、" if zh else ",")] if found else []
    kept = [name for name in mentioned if name in names and names.index(name) in offered]
    description = pattern.sub("", service.description)
    if kept:
        sentence, before = (f"特色:{'、'.join(kept)}。", "人均约") if zh else (f" We offer {', '.join(kept)}.", " About ")
        cut = description.rindex(before)
        description = description[:cut] + sentence + description[cut:]
    attributes = {key: value for key, value in service.attributes.items() if key != "features"}
    if offered:
        attributes["features"] = ", ".join(names[i] for i in sorted(offered))
    return service.model_copy(update={"attributes": attributes, "description": description})


def with_price(service: Service, price: int) -> Service:
    """SERVICE at PRICE per person: its price field and the price its description states."""
    old = f"{service.price:g}"
    description = service.description.replace(f"About {old} per person", f"About {price} per person").replace(
        f"人均约{old}元", f"人均约{price}元")
    return service.model_copy(update={"price": float(price), "description": description})


def _flipped(check: str, intent: Intent, service: Service, rng: random.Random) -> tuple[Service, str] | None:
    """SERVICE edited so that INTENT's CHECK flips (met <-> unmet) and nothing else changes, with a tag naming the
    edit; None when the intent states no such requirement."""
    if check == "district" and intent.district is not None:
        current = _service_district(service)
        target = (rng.choice([i for i in range(len(DISTRICTS)) if i != current]) if current == intent.district
                  else intent.district)
        return with_district(service, target), DISTRICTS[target][0]
    if check == "feature" and intent.feature is not None:
        offered = _service_features(service, _kind_of(service)) ^ {intent.feature}
        return with_features(service, offered), "features:" + ",".join(map(str, sorted(offered)))
    if check == "price" and intent.max_price is not None and service.price is not None:
        # Drawn near the ceiling (and onto it) so the digit steps are exercised where they decide.
        margin = max(10, intent.max_price // 2)
        if service.price <= intent.max_price:
            price = rng.randint(intent.max_price + 1, intent.max_price + margin)
        else:
            price = rng.randint(max(1, intent.max_price - margin), intent.max_price)
        return with_price(service, price), f"price:{price}"
    return None


def counterfactual_pairs(pairs: list[QueryServicePair], seed: int,
                         checks: tuple[str, ...] | list[str] = ("district",)) -> list[QueryServicePair]:
    """For every built-in gold pair and each of CHECKS its query states (see COUNTERFACTUAL_CHECKS): the same pair
    with the service edited so that this one check flips, labelled and reasoned again by `judge`. District: the service
    moved into the asked-for district, or out of it (to another, drawn with SEED). Feature: the asked-for feature added
    to the service's list, or removed from its list and description. Price: a price drawn just across the ceiling (or
    onto it). Across a pair and its counterfactual only that outcome differs, so a model can only learn it by reading
    and comparing what the check compares, not by recalling the pair."""
    unknown = [check for check in checks if check not in COUNTERFACTUAL_CHECKS]
    if unknown or len(set(checks)) != len(checks):
        raise ValueError(f"counterfactual checks {list(checks)!r}: each must be one of {list(COUNTERFACTUAL_CHECKS)}, "
                         f"at most once (unknown: {unknown})")
    if not checks:
        return []
    # One stream per check: the district pairs of a seed stay the same whichever other checks are asked for.
    streams = {check: random.Random(seed if check == "district" else f"{seed}:{check}") for check in checks}
    out = []
    for pair in pairs:
        intent = intent_of(pair)
        if intent is None or intent.kind.key != pair.service.attributes.get("kind"):
            continue
        for check in COUNTERFACTUAL_CHECKS:
            edit = _flipped(check, intent, pair.service, streams[check]) if check in streams else None
            if edit is None:
                continue
            service, tag = edit
            label, reasoning = judge(intent, service)
            out.append(pair.model_copy(update={
                "pair_id": make_pair_id(pair.query, f"{service.service_id}@{tag}"), "service": service,
                "label": label, "reasoning": reasoning, "source": f"{pair.source}+counterfactual-{check}"}))
    return out


def _candidates(rng: random.Random, intent: Intent, by_kind: dict[str, list[Service]], by_group: dict[str, list[Service]],
                services: list[Service], count: int) -> list[Service]:
    """A retrieval-like mix: mostly the asked-for kind (matches and near misses), some neighbours, a few strays."""
    chosen: dict[str, Service] = {}
    same_kind = by_kind[intent.kind.key]
    same_group = [s for s in by_group[intent.kind.group] if s.attributes["kind"] != intent.kind.key]
    plan = [(same_kind, max(1, count // 2)), (same_group, max(1, count // 4)), (services, count)]
    for pool, quota in plan:
        for service in rng.sample(pool, min(quota, len(pool))):
            if len(chosen) >= count:
                break
            chosen.setdefault(service.service_id, service)
    return list(chosen.values())[:count]


def generate_dataset(config: DataGenerationConfig, out_dir: str | Path) -> dict[str, Any]:
    rng = random.Random(config.seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    services = [_make_service(rng, i, KINDS[i % len(KINDS)], config.chinese_share) for i in range(config.num_services)]
    by_kind: dict[str, list[Service]] = {}
    by_group: dict[str, list[Service]] = {}
    for service in services:
        by_kind.setdefault(service.attributes["kind"], []).append(service)
        kind = _kind_of(service)
        by_group.setdefault(kind.group, []).append(service)

    labeled: list[QueryServicePair] = []
    seen_queries: set[str] = set()
    attempts = 0
    while len(seen_queries) < config.num_queries and attempts < config.num_queries * 50:
        attempts += 1
        intent = _make_intent(rng, config.chinese_share)
        if intent.text in seen_queries:
            continue
        seen_queries.add(intent.text)
        for service in _candidates(rng, intent, by_kind, by_group, services, config.candidates_per_query):
            label, reasoning = judge(intent, service)
            labeled.append(QueryServicePair(
                pair_id=make_pair_id(intent.text, service.service_id), query=intent.text, query_id=intent.text,
                service=service, label=label, reasoning=reasoning, source="builtin", language=intent.language,
            ))

    logs: list[QueryServicePair] = []
    log_keys: set[str] = set()
    attempts = 0
    while len(logs) < config.num_log_pairs and attempts < config.num_log_pairs * 20:
        attempts += 1
        intent = _make_intent(rng, config.chinese_share)
        for position, service in enumerate(_candidates(rng, intent, by_kind, by_group, services, 5)):
            pair_id = make_pair_id(intent.text, service.service_id)
            if len(logs) >= config.num_log_pairs or pair_id in log_keys:
                continue
            log_keys.add(pair_id)
            logs.append(QueryServicePair(
                pair_id=pair_id, query=intent.text, query_id=intent.text, service=service, source="builtin-logs",
                language=intent.language, metadata={"position": position},
            ))

    corpus: list[dict[str, str]] = []
    for index in range(config.corpus_documents):
        service = services[index % len(services)]
        choice = index % 3
        if choice == 0:
            text = f"{service.title}\n{service.category}\n{service.description}"
        elif choice == 1:
            text = f"{service.merchant} | {service.location} | " + "; ".join(f"{k}: {v}" for k, v in sorted(service.attributes.items()))
        else:
            queries = [_make_intent(rng, config.chinese_share).text for _ in range(5)]
            text = "\n".join(queries)
        corpus.append({"doc_id": f"doc-{index:06d}", "kind": ("service_page", "merchant_page", "query_log")[choice], "text": text})

    write_jsonl(str(out / "services.jsonl"), services)
    write_jsonl(str(out / "labeled.jsonl"), labeled)
    write_jsonl(str(out / "search_logs.jsonl"), logs)
    write_jsonl(str(out / "corpus.jsonl"), corpus)
    summary = {
        "config": config.model_dump(),
        "counts": {"services": len(services), "labeled_pairs": len(labeled), "labeled_queries": len(seen_queries),
                   "search_log_pairs": len(logs), "corpus_documents": len(corpus)},
        "labels": {label: sum(1 for pair in labeled if pair.label == label) for label in LABELS},
    }
    (out / "generation.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    return summary
