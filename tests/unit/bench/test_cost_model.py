"""The cost model's unit-accounting rules, as DynamoDB's developer guide states them."""

from __future__ import annotations

import base64

import pytest

from tools.bench.meter import (
    IndexSpec,
    chunks,
    gsi_writes,
    item_size,
    number_size,
    read_units,
    value_size,
    write_units,
)

KEYS = ("PK", "SK")
BY_DUE = IndexSpec("by_due", "GSI3PK", "GSI3SK")
BY_CATEGORY = IndexSpec("by_category", "GSI4PK", "GSI4SK", projection="ALL")


def test_string_size_is_utf8_bytes_of_name_and_value() -> None:
    assert item_size({"name": {"S": "abc"}}) == 4 + 3
    assert item_size({"city": {"S": "杭州"}}) == 4 + 6  # two 3-byte characters


def test_number_size_is_one_byte_per_two_significant_digits_plus_one() -> None:
    assert number_size("7") == 2
    assert number_size("12345") == 4  # ceil(5 / 2) + 1
    assert number_size("1000000") == 2  # trailing zeroes trimmed: one significant digit
    assert number_size("0.00120") == 2  # leading and trailing zeroes trimmed: "12"
    assert number_size("-99.5") == 3


def test_binary_counts_raw_bytes_not_base64() -> None:
    raw = b"\x00\x01\x02\x03\x04"
    assert value_size({"B": base64.b64encode(raw).decode()}) == 5


def test_booleans_and_null_are_one_byte() -> None:
    assert item_size({"ok": {"BOOL": True}, "x": {"NULL": True}}) == (2 + 1) + (1 + 1)


def test_lists_and_maps_have_3_bytes_overhead_plus_1_per_element() -> None:
    assert value_size({"L": []}) == 3
    assert value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (2 + 1) + (2 + 1)
    assert value_size({"M": {"to": {"S": "PAID"}}}) == 3 + (2 + 4 + 1)


def test_sets_sum_their_elements() -> None:
    assert value_size({"SS": ["a", "bc"]}) == 3
    assert value_size({"NS": ["1", "22"]}) == 2 + 2


def test_write_units_round_up_per_kilobyte_with_a_minimum_of_one() -> None:
    assert write_units(0) == 1
    assert write_units(1024) == 1
    assert write_units(1025) == 2
    assert write_units(3 * 1024) == 3


def test_transactional_writes_count_double() -> None:
    assert write_units(500, transactional=True) == 2
    assert write_units(3 * 1024, transactional=True) == 6  # the guide's 3 KB example


def test_read_units_round_up_per_4_kb_and_eventual_consistency_halves() -> None:
    assert read_units(3500, consistent=True) == 1
    assert read_units(8 * 1024, consistent=True) == 2
    assert read_units(8 * 1024, consistent=False) == 1  # the guide's 8 KB example
    assert read_units(0, consistent=False) == 0.5  # a missing item still costs the minimum
    assert read_units(8 * 1024, consistent=True, transactional=True) == 4


def test_query_sums_item_sizes_before_rounding() -> None:
    # Three 1.5 KB items: one 4 KB-rounded read of 4.5 KB = 2 units, not 3 x 1.
    assert read_units(3 * 1536, consistent=True) == 2


def _order(**extra: dict[str, str]) -> dict[str, dict[str, str]]:
    return {"PK": {"S": "ORDER#1"}, "SK": {"S": "ORDER"}, "status": {"S": "PLACED"}, **extra}


def test_creating_an_index_entry_is_one_index_put() -> None:
    new = _order(GSI3PK={"S": "DUE#EXPIRE#03"}, GSI3SK={"S": "2026-01-01T00:00:00Z#1"})
    assert gsi_writes(None, new, [BY_DUE], KEYS) == [("by_due", "put", 1)]


def test_removing_the_index_key_is_one_index_delete() -> None:
    old = _order(GSI3PK={"S": "DUE#EXPIRE#03"}, GSI3SK={"S": "t#1"})
    assert gsi_writes(old, _order(), [BY_DUE], KEYS) == [("by_due", "delete", 1)]


def test_changing_an_index_key_is_a_delete_plus_a_put() -> None:
    old = _order(GSI3PK={"S": "DUE#EXPIRE#03"}, GSI3SK={"S": "t#1"})
    new = _order(GSI3PK={"S": "DUE#PAID#03"}, GSI3SK={"S": "t#1"})
    assert gsi_writes(old, new, [BY_DUE], KEYS) == [("by_due", "delete", 1), ("by_due", "put", 1)]


def test_keys_only_index_is_not_written_when_only_other_attributes_change() -> None:
    old = _order(GSI3PK={"S": "DUE#X#01"}, GSI3SK={"S": "t"})
    new = {**old, "status": {"S": "PAID"}}
    assert gsi_writes(old, new, [BY_DUE], KEYS) == []


def test_all_projection_index_is_rewritten_when_any_attribute_changes() -> None:
    old = _order(GSI4PK={"S": "CATALOG"}, GSI4SK={"S": "tea#X"})
    new = {**old, "status": {"S": "PAID"}}
    assert gsi_writes(old, new, [BY_CATEGORY], KEYS) == [("by_category", "update", 1)]


def test_items_outside_a_sparse_index_cost_no_index_write() -> None:
    assert gsi_writes(_order(), {**_order(), "x": {"S": "y"}}, [BY_DUE, BY_CATEGORY], KEYS) == []


def test_index_write_size_is_the_projected_entry() -> None:
    big = _order(GSI3PK={"S": "DUE#X#01"}, GSI3SK={"S": "t"}, blob={"S": "x" * 5000})
    assert gsi_writes(None, big, [BY_DUE], KEYS) == [("by_due", "put", 1)]  # keys only: < 1 KB
    big4 = _order(GSI4PK={"S": "CATALOG"}, GSI4SK={"S": "t"}, blob={"S": "x" * 5000})
    assert gsi_writes(None, big4, [BY_CATEGORY], KEYS) == [("by_category", "put", 5)]


@pytest.mark.parametrize(("size", "billed"), [(0, 1), (65536, 1), (65537, 2), (256 * 1024, 4)])
def test_sqs_and_sns_bill_per_64_kb_chunk(size: int, billed: int) -> None:
    assert chunks(size) == billed
