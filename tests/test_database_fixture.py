"""The ``database_url`` fixture gives a working, empty database on SQLite and on PostgreSQL.

Under `make test` the PostgreSQL case runs against the throwaway server of
scripts/test-postgres.sh; a server that is named in $BLANKETT_TEST_DATABASE_URL but not there
makes the fixture, and so this test, fail.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Column, Integer, MetaData, Numeric, String, Table, create_engine, inspect, select

NAME = "Åsa Ängström-Öberg, Väsby gård, Mölndal"  # å ä ö, both cases: kept as they are
AMOUNT = Decimal("1234567890.25")  # 10 digits before the point: the full width of Numeric(12, 2)


def test_database_url_roundtrip(database_url, request):
    backend = request.node.callspec.params["database_url"]
    engine = create_engine(database_url)
    try:
        assert engine.dialect.name == backend
        assert inspect(engine).get_table_names() == [], "the database is not empty"
        meta = MetaData()
        t = Table("probe", meta,
                  Column("id", Integer, primary_key=True),
                  Column("name", String(100), nullable=False),
                  Column("amount", Numeric(12, 2), nullable=False))
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(t.insert(), [{"name": NAME, "amount": AMOUNT}])
        with engine.connect() as conn:
            rows = conn.execute(select(t.c.name, t.c.amount)).all()
        assert rows == [(NAME, AMOUNT)]
        name, amount = rows[0]
        assert isinstance(amount, Decimal) and amount.as_tuple().exponent == -2
        assert set("åäöÅÄÖ") <= set(name)
        if backend == "postgresql":  # a database of the test's own, not the server's shared one
            with engine.connect() as conn:
                db = conn.exec_driver_sql("SELECT current_database()").scalar_one()
            assert db.startswith("blankett_t_"), db
    finally:
        engine.dispose()

