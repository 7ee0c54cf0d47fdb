"""Image files: reading inputs safely, checking outputs, provenance metadata."""
