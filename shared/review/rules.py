"""Automatic review: pure decisions (the checker is passed in; no AWS here).

Order of severity: any reject reason rejects; otherwise any manual reason sends the order to a human;
otherwise it passes (the fast lane). Every reason is reported, not only the first, so a reviewer sees all.
"""

from __future__ import annotations

from shared.review.adlaw import AdCopyChecker, AdCopyFindings
from shared.review.models import (
    Outcome,
    ReasonCode,
    ReviewConfig,
    ReviewDecision,
    ReviewInput,
    ReviewReason,
)

_REJECTING = frozenset({ReasonCode.BANNED_CATEGORY, ReasonCode.BANNED_TERM})


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _banned_reasons(
    order: ReviewInput, checker: AdCopyChecker, copy: AdCopyFindings, target: AdCopyFindings
) -> list[ReviewReason]:
    reasons: list[ReviewReason] = []
    banned_names = checker.banned_category_names
    for item in order.items:
        # A category is banned by its name (gambling) or by a banned term in it (刷粉套餐).
        scanned = checker.scan(item.category)
        if item.category in banned_names or scanned.banned:
            reasons.append(
                ReviewReason(
                    code=ReasonCode.BANNED_CATEGORY,
                    message=f"item {item.sku}: category {item.category!r} is not sold on this platform",
                    terms=_unique([hit.text for hit in scanned.banned]) or [item.category],
                )
            )
    hits = [*copy.banned, *target.banned]
    if hits:
        categories = ", ".join(sorted({hit.category or "" for hit in hits}))
        reasons.append(
            ReviewReason(
                code=ReasonCode.BANNED_TERM,
                message=f"ad copy or target offers something we never sell ({categories})",
                terms=_unique([hit.text for hit in hits]),
            )
        )
    return reasons


def auto_review(order: ReviewInput, config: ReviewConfig, checker: AdCopyChecker) -> ReviewDecision:
    """Decide pass / manual / reject for a paid order."""
    needs_copy_check = any(item.category in config.ad_copy_categories for item in order.items)
    # Absolute terms matter only in copy we publish (ad / promotion packages); banned terms and licensed
    # industries matter in any copy.
    copy = checker.check(order.ad_copy) if needs_copy_check else checker.scan(order.ad_copy)
    target = checker.scan(order.target)

    reasons = _banned_reasons(order, checker, copy, target)

    if copy.absolute_terms:
        reasons.append(
            ReviewReason(
                code=ReasonCode.ABSOLUTE_TERMS,
                message="ad copy uses absolute terms (广告法 第九条第三项); a reviewer judges the context",
                terms=_unique([hit.text for hit in copy.absolute_terms]),
            )
        )

    missing = sorted((copy.industries | target.industries) - order.shopper_qualifications)
    if missing:
        reasons.append(
            ReviewReason(
                code=ReasonCode.INDUSTRY_UNQUALIFIED,
                message=f"licensed industry without a qualification on file: {', '.join(missing)}",
                terms=missing,
            )
        )

    if order.total_fen > config.manual_above_fen:
        reasons.append(
            ReviewReason(
                code=ReasonCode.AMOUNT_ABOVE_TIER,
                message=f"total {order.total_fen} fen is above the {config.manual_above_fen} fen tier",
            )
        )

    if order.risk_decision == "REVIEW":
        reasons.append(
            ReviewReason(code=ReasonCode.RISK_REVIEW, message="checkout risk scoring asked for a review")
        )

    if any(reason.code in _REJECTING for reason in reasons):
        outcome = Outcome.REJECT
    elif reasons:
        outcome = Outcome.MANUAL
    else:
        outcome = Outcome.PASS
    highlighted = copy.highlighted if order.ad_copy and (copy.absolute_terms or copy.banned) else None
    return ReviewDecision(outcome=outcome, reasons=reasons, highlighted_copy=highlighted)
