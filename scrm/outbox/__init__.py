"""The outbox: delivery rows, the worker loop, the rate limiter and the channel choice."""
