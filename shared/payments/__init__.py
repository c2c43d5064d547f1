"""Payments bounded context.

`adapters/` holds the pure provider adapters (WeChat Pay v3, Alipay OpenAPI): request signing, callback
verification and decryption, no AWS and no order logic. `card.py` keeps card data out of our systems,
`secrets.py` loads production configs. Sandbox keys and the sandbox provider live in `shared/sandbox/`
(local runtime and tests only, not in the Lambda layer).
Nothing is imported here so that `import shared.payments.x` stays cheap at cold start.
"""
