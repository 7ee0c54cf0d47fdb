"""The `imagebatch` command line."""
