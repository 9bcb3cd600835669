"""The WeChat gateway: signature, crypto, parse, dedupe, router, replies, API client, OAuth."""
