"""Fraud risk scoring at checkout: models, pure scoring, flags (rules + mode) and the DynamoDB store."""
