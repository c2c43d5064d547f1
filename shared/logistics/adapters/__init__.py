"""Logistics partner adapters: pure functions (no AWS, no order logic). Import the partner module you need."""
