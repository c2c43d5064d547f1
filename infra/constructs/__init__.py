"""Pieces of the order24 stack, each built from `infra.declaration`."""
