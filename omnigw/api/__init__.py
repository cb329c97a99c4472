"""The control API: aiohttp app, authentication, error format, OpenAPI, route registration."""
