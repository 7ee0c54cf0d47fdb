"""The REST API (FastAPI): `create_server(app)` is what `imagebatch serve` runs."""
