"""Ad copy with an absolute term (广告法 第九条) holds a paid order for a human; a reviewer approves it.

    python -m examples.review_held_order [BASE_URL]
"""

from __future__ import annotations

from typing import Any

from examples.client import connect, show, step


def main(argv: list[str] | None = None) -> dict[str, Any]:
    api = connect(__doc__ or "", argv)
    shopper, reviewer = api.login("shopper2"), api.login("reviewer1")

    step("A shopper orders an ad placement whose copy says 全网第一, and pays")
    order_id = api.place_paid_order(shopper, {"items": [{"sku": "AD-SEARCH-TOP-30D", "quantity": 1}],
                                              "target": "https://shop.example.com/store/9",
                                              "ad_copy": "全网第一的茶叶旗舰店"})
    api.wait_for_status(shopper, order_id, {"IN_REVIEW"})

    step("The reviewer's queue, oldest first: GET /review/queue")
    entry: dict[str, Any] | None = None
    page = api.call("GET", "/review/queue", reviewer)
    while entry is None:
        entry = next((item for item in page["items"] if item["order_id"] == order_id), None)
        if entry is None and page["cursor"]:
            page = api.call("GET", f"/review/queue?cursor={page['cursor']}", reviewer)
        elif entry is None:
            raise SystemExit(f"order {order_id} is not in the review queue")
    show("held because", [reason["code"] for reason in entry["reasons"]])
    show("the copy, marked", entry["highlighted_copy"])

    step("Claim the order (a lease: nobody else reviews it meanwhile): POST /review/{id}/claim")
    lease = api.call("POST", f"/review/{order_id}/claim", reviewer)
    show("lease", lease)

    step("Approve it: POST /review/{id}/approve; fulfilment resumes")
    decided = api.call("POST", f"/review/{order_id}/approve", reviewer)
    show("decided", decided)
    order = api.wait_for_status(shopper, order_id, {"COMPLETED"})
    return {"order_id": order_id, "entry": entry, "lease": lease, "decided": decided, "order": order}


if __name__ == "__main__":
    main()
