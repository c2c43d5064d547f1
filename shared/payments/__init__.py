"""Payments bounded context.

`adapters/` holds the pure provider adapters (WeChat Pay v3, Alipay OpenAPI): request signing, callback
verification and decryption, no AWS and no order logic. `card.py` keeps card data out of our systems,
`keys.py` makes sandbox keys for the local runtime and `secrets.py` loads production configs.
Nothing is imported here so that `import shared.payments.x` stays cheap at cold start.
"""
