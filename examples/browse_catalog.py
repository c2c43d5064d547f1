"""Browse and search the catalog: public, no token needed.

    python -m examples.browse_catalog [BASE_URL]
"""

from __future__ import annotations

from typing import Any

from examples.client import connect, show, step


def main(argv: list[str] | None = None) -> dict[str, Any]:
    api = connect(__doc__ or "", argv)

    step("Search by keyword: GET /catalog?q=promotion")
    found = api.call("GET", "/catalog?q=promotion")
    for sku in found["items"]:
        print(f"    {sku['sku']:<24} {sku['price_fen'] / 100:>9.2f} {sku['currency']}  {sku['title']}")

    step("One category: GET /catalog?category=tea")
    tea = api.call("GET", "/catalog?category=tea")
    show("skus", [sku["sku"] for sku in tea["items"]])
    if tea["cursor"]:  # more than one page: pass the cursor back for the next one
        api.call("GET", f"/catalog?category=tea&cursor={tea['cursor']}")

    step("One SKU with its stock: GET /catalog/TEA-PUER-357G")
    detail = api.call("GET", "/catalog/TEA-PUER-357G")
    show("detail", {key: detail[key] for key in ("sku", "kind", "price_fen", "stock")})

    step("An unknown SKU is a 404 problem with a stable code")
    missing = api.call("GET", "/catalog/NO-SUCH-SKU", expect=(404,))
    show("problem", {key: missing[key] for key in ("status", "code")})
    return {"search": found["items"], "tea": tea["items"], "detail": detail, "missing": missing}


if __name__ == "__main__":
    main()
