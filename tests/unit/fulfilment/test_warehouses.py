"""Warehouse allocation: the nearest warehouse that holds every line, falling back in distance order."""

from __future__ import annotations

import pytest

from shared.fulfilment import warehouses

LONGJING = "TEA-LONGJING-250G"  # HZ 200, BJ 0, others default
PUER = "TEA-PUER-357G"  # HZ 0, GZ 300, CD 150, BJ default 300


@pytest.mark.parametrize(
    ("province", "sku", "quantity", "expected"),
    [
        ("浙江", LONGJING, 1, "HZ"),
        ("上海市", LONGJING, 1, "HZ"),
        ("江苏省", "STAT-NOTEBOOK-A5", 2, "HZ"),
        ("广东省", LONGJING, 1, "GZ"),
        ("广西壮族自治区", LONGJING, 1, "GZ"),
        ("北京", "STAT-NOTEBOOK-A5", 1, "BJ"),
        ("北京", LONGJING, 1, "HZ"),  # BJ has none: the north's next nearest is HZ
        ("四川", "HOME-THERMOS-500ML", 1, "CD"),
        ("重庆市", PUER, 151, "GZ"),  # CD holds 150: the southwest's next is GZ
        ("浙江", PUER, 1, "GZ"),  # HZ holds none: the east's next is GZ
        ("新疆维吾尔自治区", LONGJING, 1, "CD"),  # no covering warehouse: the region order decides
        ("火星", LONGJING, 1, "HZ"),  # unknown province: the default order
    ],
)
def test_allocation_table(province: str, sku: str, quantity: int, expected: str) -> None:
    assert warehouses.allocate(province, [{"sku": sku, "quantity": quantity}]).code == expected


def test_one_warehouse_must_hold_every_line() -> None:
    lines = [{"sku": LONGJING, "quantity": 1}, {"sku": PUER, "quantity": 1}]
    assert warehouses.allocate("浙江", lines).code == "GZ"  # HZ lacks Pu'er, GZ has both


def test_no_warehouse_with_enough_stock_is_an_error() -> None:
    with pytest.raises(warehouses.NoWarehouse):
        warehouses.allocate("浙江", [{"sku": LONGJING, "quantity": 10_000}])


def test_every_region_lists_only_known_warehouses() -> None:
    cfg = warehouses.config()
    assert all(set(order) <= set(cfg.warehouses) for order in cfg.region_order.values())
