"""Blob storage for image bytes: content-addressed keys, atomic writes; a folder or S3."""
