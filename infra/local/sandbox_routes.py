"""The routes only the local runtime serves: sandbox providers that post correctly signed callbacks, as
WeChat Pay/Alipay and the courier would. Never deployed: the production declaration (infra/declaration.py)
does not hold them, and infra/stack.py and infra/constructs never import infra.local."""

from __future__ import annotations

from dataclasses import replace

from infra.declaration import DECLARATION, Declaration, Route

SANDBOX_ROUTES: tuple[Route, ...] = (
    # served by infra/local/sandbox_payments.py: acts as the payment provider
    Route("POST", "/sandbox/pay/{order_id}", "sandbox_payments", auth="public", operation_id="sandboxPay"),
    # served by infra/local/sandbox_courier.py: acts as the courier
    Route("POST", "/sandbox/ship/{order_id}", "sandbox_courier", auth="public", operation_id="sandboxShip"),
    # served by infra/local/sandbox_aftersales.py: stands in for after-sales parties, and the provider's refund book
    Route("POST", "/sandbox/after-sales/{case_id}", "sandbox_aftersales", auth="public",
          operation_id="sandboxAfterSalesAct"),
    Route("GET", "/sandbox/refunds", "sandbox_aftersales", auth="public", operation_id="sandboxRefunds"),
)


def local_declaration(decl: Declaration = DECLARATION) -> Declaration:
    """`decl` with the sandbox routes, as `python -m infra.local` runs it."""
    return replace(decl, local_only_routes=(*decl.local_only_routes, *SANDBOX_ROUTES))


LOCAL_DECLARATION = local_declaration()
