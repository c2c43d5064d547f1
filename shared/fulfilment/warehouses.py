"""Warehouses and regions are configuration (warehouses.json); allocation picks the nearest one with stock.

Rule: the warehouses that cover the shipping province come first; then the province's region order
(nearest first); then the default order. The first warehouse whose stock covers EVERY line of the order
wins (one parcel per order; no split shipments). None -> NoWarehouse.

Warehouse stock is the physical on-hand count used for routing only. The catalog's bucketed stock is what
is sellable and was already reserved at checkout, so allocation never decrements anything here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

_SUFFIXES = ("壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区", "自治区", "省", "市")


class NoWarehouse(Exception):
    """No configured warehouse holds every line of the order."""


@dataclass(frozen=True)
class Warehouse:
    code: str
    name: str
    carrier: str
    prefix: str
    covers: tuple[str, ...]
    stock: dict[str, int]

    def on_hand(self, sku: str) -> int:
        return int(self.stock.get(sku, self.stock.get("*", 0)))


@dataclass(frozen=True)
class Config:
    warehouses: dict[str, Warehouse]
    region_order: dict[str, tuple[str, ...]]  # province -> warehouse codes, nearest first
    default_order: tuple[str, ...]


def normalise_province(name: str) -> str:
    text = name.strip()
    for suffix in _SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix) + 1:
            return text[: -len(suffix)]
    return text


def parse(raw: dict[str, Any]) -> Config:
    warehouses = {
        code: Warehouse(
            code,
            w["name"],
            w["carrier"],
            w["prefix"],
            tuple(w["covers"]),
            {sku: int(n) for sku, n in w["stock"].items()},
        )
        for code, w in raw["warehouses"].items()
    }
    region_order = {
        province: tuple(region["order"])
        for region in raw["regions"].values()
        for province in region["provinces"]
    }
    return Config(warehouses, region_order, tuple(raw["default_order"]))


@cache
def config() -> Config:
    return parse(json.loads((Path(__file__).with_name("warehouses.json")).read_text(encoding="utf-8")))


def candidates(province: str, cfg: Config | None = None) -> list[Warehouse]:
    """Warehouses in the order allocation tries them for this province."""
    cfg = cfg or config()
    wanted = normalise_province(province)
    covering = [code for code, w in cfg.warehouses.items() if wanted in w.covers]
    ordered: list[str] = []
    for code in (*covering, *cfg.region_order.get(wanted, ()), *cfg.default_order):
        if code not in ordered and code in cfg.warehouses:
            ordered.append(code)
    return [cfg.warehouses[code] for code in ordered]


def allocate(province: str, lines: Sequence[Mapping[str, Any]], cfg: Config | None = None) -> Warehouse:
    for warehouse in candidates(province, cfg):
        if all(warehouse.on_hand(line["sku"]) >= int(line["quantity"]) for line in lines):
            return warehouse
    raise NoWarehouse(f"no warehouse holds every line for {normalise_province(province)}")
