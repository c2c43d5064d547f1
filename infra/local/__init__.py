"""The local runtime: the platform on one machine, built from `infra.declaration` (`make run`).

| module | what |
|---|---|
| `__main__` | `python -m infra.local`: start, print the demo users, wait for Ctrl-C/SIGTERM, stop |
| `runtime` | `start(decl, port, state_dir) -> Runtime` (`.stop()`, `.stats()`), stack.json |
| `resources` | table, queues + DLQs, topics, secrets, Lambdas, state machines, Cognito (in moto) |
| `invoker` | handlers in-process with a Lambda context; counters; faults (`LOCAL_FAULT_RATE`) |
| `moto_patches` | every patch of moto: what moto gets wrong, the proving test; `install`: Lambda -> real handler |
| `powertools_isolation` | Powertools' resolver request per thread, as in one Lambda environment each |
| `gateway` | HTTP -> API Gateway HTTP API payload 2.0 -> handler -> HTTP; `GET /_local/stats` |
| `jwt_auth` | the HTTP API JWT authorizer against the Cognito pool's JWKS |
| `pollers` | SQS event-source mappings (partial batch failures), the DynamoDB stream, schedules |
| `seed` | the demo catalog (`demo_catalog.json`) through `POST /merchant/skus`, as the merchant |
| `extensions` | the hook for sandbox providers: extra stack.json sections, env vars and secrets |
| `plan` | re-exports `infra/plan.py`: what the declaration means as data, shared with the CDK constructs |
| `sandbox_routes` | the local-only sandbox routes, and `LOCAL_DECLARATION` = the declaration plus them |

Local-only routes (`Declaration.local_only_routes`, the sandbox ones in `sandbox_routes`) are served by
`infra/local/<function>.py:handler`.
"""
