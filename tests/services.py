"""Real servers for the tests: a session's own PostgreSQL database, and an S3 server (moto).

PostgreSQL: the server on 127.0.0.1:5432 is shared with other people's test runs, so a
session creates ONE database with a unique name, migrates it once, and drops it at the end;
it never touches any other database. Each test starts from the freshly migrated state:
every table's rows are deleted and every sequence restarts, then the rows the migrations
seeded (kept aside in a schema of their own) are copied back. Measured on this machine with
the 17 tables of migration 0002: ~10 ms a test, against ~90 ms for TRUNCATE … RESTART
IDENTITY (it makes new files for every table and index) and ~80 ms to clone a template
database per test (CREATE DATABASE … TEMPLATE, then DROP).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import psycopg
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
            self._reset = self._reset_statement()
        except BaseException:
            self.drop()
            raise

    def fresh(self) -> str:
        """Back to the state right after migrating (ids restart too); returns the URL."""
        with self.connect() as conn:
            conn.execute("SET lock_timeout = '5s'")  # a connection a test leaked would hang us
            conn.execute(self._reset)
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

    def _reset_statement(self) -> sql.Composed:
        """Delete every row, restart every sequence, then restore the seeded rows."""
        with self.connect() as conn:
            tables = [str(row[0]) for row in conn.execute(_TABLES).fetchall()]
            seeded = [t for t in tables if _has_rows(conn, t)]
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SEED_SCHEMA)))
            for table in seeded:
                conn.execute(
                    sql.SQL("CREATE TABLE {} AS TABLE {}").format(
                        sql.Identifier(SEED_SCHEMA, table), sql.Identifier(table)
                    )
                )
            sequences = conn.execute(_SEQUENCES).fetchall()
        # Foreign-key triggers off: then the order of the deletes and inserts does not matter.
        statements = [sql.SQL("SET session_replication_role = replica")]
        statements += [sql.SQL("DELETE FROM {}").format(sql.Identifier(t)) for t in tables]
        statements += [
            sql.SQL("INSERT INTO {} SELECT * FROM {}").format(
                sql.Identifier(table), sql.Identifier(SEED_SCHEMA, table)
            )
            for table in seeded
        ]
        statements.append(sql.SQL("SET session_replication_role = DEFAULT"))
        for table, column, sequence in sequences:
            if table in seeded:  # go on after the seeded ids
                query = "SELECT setval({}, (SELECT max({}) FROM {}))"
                statements.append(
                    sql.SQL(query).format(
                        sql.Literal(sequence), sql.Identifier(column), sql.Identifier(table)
                    )
                )
            else:
                statements.append(sql.SQL("ALTER SEQUENCE {} RESTART").format(sql.SQL(sequence)))
        return sql.SQL("; ").join(statements)


SEED_SCHEMA = "ib_test_seed"
_TABLES = (
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    " AND tablename <> 'alembic_version' ORDER BY tablename"
)
_SEQUENCES = (
    "SELECT table_name, column_name, pg_get_serial_sequence(format('%I', table_name), column_name)"
    " FROM information_schema.columns WHERE table_schema = 'public'"
    " AND pg_get_serial_sequence(format('%I', table_name), column_name) IS NOT NULL"
)


def _has_rows(conn: psycopg.Connection[tuple[object, ...]], table: str) -> bool:
    query = sql.SQL("SELECT EXISTS (SELECT FROM {})").format(sql.Identifier(table))
    row = conn.execute(query).fetchone()
    return bool(row and row[0])


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


# moto runs in a child process: importing it adds ~70,000 objects to the heap, and the longer
# garbage-collection pauses that follow upset timing-sensitive tests (rate pacing) in ours.
_MOTO = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # until the tests close our stdin
server.stop()
"""


@contextmanager
def s3_server() -> Iterator[S3Server]:
    child = subprocess.Popen(
        [sys.executable, "-c", _MOTO],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # moto logs every request
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        port = child.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError(f"moto's S3 server did not start (exit code {child.wait(10)})")
        s3 = S3Server(f"http://127.0.0.1:{port}")
        try:
            yield s3
        finally:
            s3.client.close()
    finally:
        if child.stdin:
            child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout:
            child.stdout.close()
