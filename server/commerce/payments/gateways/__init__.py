"""Payment gateways behind one interface: Alipay, WeChat Pay, Stripe and the sandbox."""
