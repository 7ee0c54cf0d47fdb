"""Real servers for the tests: a session's own PostgreSQL database, and an S3 server (moto).

PostgreSQL: the server on 127.0.0.1:5432 is shared with other people's test runs, so a
session creates ONE database with a unique name, migrates it once, and drops it at the end;
it never touches any other database. Each test starts from empty tables: TRUNCATE … RESTART
IDENTITY CASCADE of every table costs ~15 ms, against ~75–100 ms to clone a template database
per test (CREATE DATABASE … TEMPLATE, then DROP), measured on this machine.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import psycopg
from moto.server import ThreadedMotoServer
from psycopg import sql

from imagebatch.store.migrations import upgrade

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_ADMIN = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test connect_timeout=3"
REQUIRE_POSTGRES = "IMAGEBATCH_TEST_REQUIRE_POSTGRES"


class PostgresUnavailable(Exception):
    pass


class SessionDatabase:
    """This test session's database: created and migrated once, emptied before each test."""

    def __init__(self) -> None:
        self.name = f"ib_{os.getpid()}_{secrets.token_hex(4)}"
        self.url = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{self.name}"
        try:
            with _admin() as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        except psycopg.OperationalError as error:
            raise PostgresUnavailable(
                f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT}: {error}".strip()
            ) from error
        try:
            upgrade(self.url)
            self._truncate = self._truncate_statement()
        except BaseException:
            self.drop()
            raise

    def fresh(self) -> str:
        """Empty every table (ids restart at 1) and return the URL."""
        with self.connect() as conn:
            conn.execute("SET lock_timeout = '5s'")  # a connection a test leaked would hang us
            conn.execute(self._truncate)
        return self.url

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            f"host={PG_HOST} port={PG_PORT} user=postgres dbname={self.name}", autocommit=True
        )

    def drop(self) -> None:
        with _admin() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )

    def _truncate_statement(self) -> sql.Composed:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'alembic_version'"
            ).fetchall()
        names = sql.SQL(", ").join(sql.Identifier(str(row[0])) for row in rows)
        return sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(names)


@contextmanager
def _admin() -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        yield conn


class S3Server:
    """moto's S3 server on a loopback port; each test makes its own bucket."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        # One client for making buckets: a boto3 client takes ~60 ms to build.
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def settings(self, bucket: str, prefix: str = "blobs") -> dict[str, object]:
        return {
            "storage_url": f"s3://{bucket}/{prefix}",
            "s3_endpoint_url": self.endpoint,
            "s3_region": "us-east-1",
            "s3_access_key_id": "testing",
            "s3_secret_access_key": "testing",
        }

    def new_bucket(self) -> str:
        name = f"ib-test-{secrets.token_hex(6)}"
        self.client.create_bucket(Bucket=name)
        return name


@contextmanager
def s3_server() -> Iterator[S3Server]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    s3 = S3Server(f"http://{host}:{port}")
    try:
        yield s3
    finally:
        s3.client.close()
        server.stop()
