"""Pure payment-provider adapters: no AWS, no DynamoDB, no order logic; callers inject time and nonces."""
