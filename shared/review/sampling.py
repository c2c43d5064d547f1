"""A generated, realistic order mix for auto-review, and a CLI that measures it.

    python -m shared.review.sampling --n 1000 [--seed 7]

prints the share of orders that take the fast lane (pass), the share of each outcome and reason, and the
per-order decision time (mean / p50 / p99) with the matcher warm (automaton built, jieba loaded), plus what
the cold build costs once per container.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from shared.review.models import LineItem, ReviewInput

# Share of each kind of order in the mix; most orders are plain.
MIX: dict[str, float] = {
    "plain": 0.62,  # goods with no ad copy
    "ad_clean": 0.14,  # ad / promotion packages with lawful copy (some with benign compounds: 最近, 第一次)
    "ad_absolute": 0.08,  # ad copy with absolute terms
    "industry": 0.06,  # licensed-industry copy; half the shoppers have the qualification on file
    "big": 0.05,  # totals above the manual tier
    "risk_review": 0.04,  # checkout risk asked for a review
    "banned": 0.01,
}

PLAIN_CATEGORIES = ("apparel", "electronics", "books", "home", "food", "gift_card", "software")
CLEAN_COPY = (
    "夏季新品上市，最近上新多款纯棉T恤，欢迎选购",
    "第一次合作享九折，下单后第一时间发货",
    "活动最终解释权归本店所有，满199减20",
    "新店开业，最初的味道，手工现烤面包",
    "Fresh coffee beans, roasted weekly, bestseller blend",
    "精选好物，品质生活从这里开始",
    "限时优惠，最多可减50元，最晚周日截止",
    "100%纯棉面料，亲肤透气",
)
ABSOLUTE_COPY = (
    "全网第一的降噪耳机，立即抢购",
    "最佳选择，国家级品质",
    "销量第一，顶级做工，最好的礼物",
    "The best phone case you will ever own",
    "行业唯一独家配方，效果绝对看得见",
    "最终方案：全网最低价，错过再等一年",
)
INDUSTRY_COPY = (
    ("三甲医院专家团队，疗效显著", "medical"),
    ("稳健理财，年化收益率6%", "financial"),
    ("考研培训名师辅导，提分快", "education"),
    ("保健食品蓝帽子认证，增强免疫力", "health_food"),
    ("家用血压计，精准测量", "medical_device"),
)
BANNED = (
    ("fake_engagement", "刷粉1000个，真人僵尸粉"),
    ("promotion", "buy followers cheap, fast delivery"),
    ("ad_placement", "高仿名牌包包推广"),
)


def _item(rng: random.Random, category: str, price_fen: int) -> LineItem:
    digital = category in ("gift_card", "software", "ad_placement", "promotion")
    kind: Literal["digital", "physical"] = "digital" if digital else "physical"
    return LineItem(
        sku=f"sku-{rng.randrange(10_000):04d}",
        kind=kind,
        category=category,
        quantity=1,
        unit_price_fen=price_fen,
    )


def _order(rng: random.Random, index: int, kind: str) -> ReviewInput:
    order_id = f"o{index:08d}"
    price = rng.randrange(9_90, 800_00)  # ¥9.90 .. ¥800
    ad_category = rng.choice(("ad_placement", "promotion"))
    match kind:
        case "plain":
            item = _item(rng, rng.choice(PLAIN_CATEGORIES), price)
            return ReviewInput(order_id=order_id, items=[item], total_fen=price)
        case "ad_clean":
            item = _item(rng, ad_category, price)
            copy = rng.choice(CLEAN_COPY)
            return ReviewInput(
                order_id=order_id, items=[item], total_fen=price, ad_copy=copy, target="shop-42"
            )
        case "ad_absolute":
            item = _item(rng, ad_category, price)
            copy = rng.choice(ABSOLUTE_COPY)
            return ReviewInput(
                order_id=order_id, items=[item], total_fen=price, ad_copy=copy, target="shop-42"
            )
        case "industry":
            copy, industry = rng.choice(INDUSTRY_COPY)
            qualified = frozenset({industry}) if rng.random() < 0.5 else frozenset()
            return ReviewInput(
                order_id=order_id,
                items=[_item(rng, ad_category, price)],
                total_fen=price,
                ad_copy=copy,
                target="clinic-7",
                shopper_qualifications=qualified,
            )
        case "big":
            big = rng.randrange(5_000_01, 50_000_00)
            return ReviewInput(order_id=order_id, items=[_item(rng, "electronics", big)], total_fen=big)
        case "risk_review":
            item = _item(rng, rng.choice(PLAIN_CATEGORIES), price)
            return ReviewInput(order_id=order_id, items=[item], total_fen=price, risk_decision="REVIEW")
        case "banned":
            category, copy = rng.choice(BANNED)
            return ReviewInput(
                order_id=order_id, items=[_item(rng, category, price)], total_fen=price, ad_copy=copy
            )
    raise ValueError(f"unknown mix kind {kind!r}")


def generate_mix(n: int, seed: int = 7) -> list[ReviewInput]:
    """n orders drawn from MIX with a fixed seed (same seed, same orders)."""
    rng = random.Random(seed)
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=n)
    return [_order(rng, index, kind) for index, kind in enumerate(kinds)]


def _percentile(sorted_values: Sequence[float], pct: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from shared.review.adlaw import default_checker
    from shared.review.models import ReviewConfig
    from shared.review.rules import auto_review

    started = time.perf_counter()
    checker = default_checker()
    built = time.perf_counter()
    checker.warm()
    warmed = time.perf_counter()

    orders = generate_mix(args.n, args.seed)
    config = ReviewConfig()
    for order in orders[:50]:  # warm caches and the interpreter paths before timing
        auto_review(order, config, checker)

    timings_us: list[float] = []
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for order in orders:
        t0 = time.perf_counter_ns()
        decision = auto_review(order, config, checker)
        timings_us.append((time.perf_counter_ns() - t0) / 1000)
        outcomes[decision.outcome.value] += 1
        reasons.update(reason.code.value for reason in decision.reasons)

    timings_us.sort()
    n = len(orders)
    print(f"orders: {n} (seed {args.seed})")
    print(f"fast lane (pass): {outcomes['pass'] / n:.1%}")
    for outcome in ("pass", "manual", "reject"):
        print(f"  {outcome:<7} {outcomes[outcome]:>6}  {outcomes[outcome] / n:6.1%}")
    print("reasons:")
    for code, count in reasons.most_common():
        print(f"  {code:<22} {count:>6}  {count / n:6.1%}")
    print(
        f"decision time, matcher warm: mean {statistics.fmean(timings_us):.1f} us, "
        f"p50 {_percentile(timings_us, 50):.1f} us, p99 {_percentile(timings_us, 99):.1f} us, "
        f"max {timings_us[-1]:.1f} us"
    )
    print(
        f"once per container: build checker {(built - started) * 1000:.0f} ms, "
        f"load jieba {(warmed - built) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
