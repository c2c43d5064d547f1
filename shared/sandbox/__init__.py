"""Sandbox providers: in-process stand-ins for WeChat Pay, Alipay, the card provider, Kuaidi100 and the
digital provider. Local runtime (`make run`) and tests only.

Never deployed: `infra/layer.py` leaves this package out of the Lambda layer (`layer_files`), and code
outside it imports it lazily, only when `shared.core.config.sandbox_providers()` is on (env
`ORDER24_SANDBOX=1`, set by infra/local and the tests). A deployed function that somehow had the switch on
would fail to import it rather than pretend to pay, ship or deliver.

* `payments` - an HttpClient that answers like WeChat Pay v3 and Alipay, and the card provider;
* `keys` - throwaway keys for the above, and the secrets' JSON the local runtime stores;
* `digital` - the deterministic digital provider (`#partial`, `#flaky`, `#down`, `#refuse`);
* `courier` - a tracking subscriber that only remembers what it was asked to watch.
"""
