"""The bot: one module per feature, each exporting a router; ROUTERS lists them in priority order."""
