"""`PercentileCont`: PostgreSQL's continuous percentile as an ORM aggregate, on SQLite too.

SPEC §6 wants medians and percentiles continuous (linear interpolation, as
PostgreSQL's `percentile_cont`) and identical on both databases. PostgreSQL runs
its own ordered-set aggregate; SQLite has none in Python's build, so
`install_sqlite` registers one on each connection (`ReportsConfig.ready` hooks it
to `connection_created`) that performs the very same IEEE double operations as
PostgreSQL's C implementation (`percentile_cont_final_common`, `float8_lerp`):
for a fraction p of n ordered values, pos = p × (n − 1), and the result is
v[floor(pos)] + (pos − floor(pos)) × (v[ceil(pos)] − v[floor(pos)]).

This replaced a window-function formulation written out in SQL for SQLite next to
the `percentile_cont` one for PostgreSQL: two ways to say every report statement.
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Aggregate, FloatField, Lookup, Q, Value
from django.db.models.expressions import Combinable
from django.db.models.sql.compiler import SQLCompiler

SQLITE_FUNCTION = "percentile_cont"


class PercentileCont(Aggregate):
    """`percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)`: the continuous
    percentile of the non-null values (None when there are none), `filter` as for
    any aggregate (FILTER (WHERE …)).

    On SQLite it is `percentile_cont(expression, fraction)`, the argument order of
    SQLite's own percentile extension, which `install_sqlite` stands in for.
    """

    function = "percentile_cont"
    name = "PercentileCont"
    output_field = FloatField()

    def __init__(
        self, expression: str | Combinable, fraction: float, *, filter: Q | None = None
    ) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError(f"A percentile's fraction is between 0 and 1, not {fraction}.")
        super().__init__(Value(float(fraction)), expression, filter=filter)

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> tuple[str, tuple]:
        # The fraction and the value are the two source expressions, compiled in
        # that order (so their parameters are too); joining them with the middle of
        # the ordered-set syntax gives "percentile_cont(%s) WITHIN GROUP (ORDER BY v)".
        return super().as_sql(
            compiler, connection, arg_joiner=") WITHIN GROUP (ORDER BY ", **extra_context
        )

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> tuple[str, tuple]:
        clone = self.copy()
        fraction, value, condition = clone.get_source_expressions()
        clone.set_source_expressions([value, fraction, condition])
        return super(PercentileCont, clone).as_sql(
            compiler, connection, function=SQLITE_FUNCTION, **extra_context
        )


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """The continuous percentile of `values`, sorted ascending, without NULLs:
    PostgreSQL's arithmetic, operation for operation."""
    if not values:
        return None
    pos = fraction * (len(values) - 1)
    first, second = math.floor(pos), math.ceil(pos)
    if second == first:
        return values[first]
    return values[first] + (pos - first) * (values[second] - values[first])


class _SQLitePercentileCont:
    """The SQLite aggregate behind `PercentileCont`: collects the values, sorts once."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction: float | None = None

    def step(self, value: float | None, fraction: float | None) -> None:
        if fraction is None:
            return
        if not 0 <= fraction <= 1:
            raise ValueError(f"percentile_cont: fraction {fraction} is not between 0 and 1")
        self.fraction = float(fraction)
        if value is not None:
            self.values.append(float(value))

    def finalize(self) -> float | None:
        if self.fraction is None:
            return None
        self.values.sort()
        return percentile_cont(self.values, self.fraction)


def install_sqlite(dbapi_connection: sqlite3.Connection) -> None:
    """Register `percentile_cont(value, fraction)` on a SQLite connection."""
    dbapi_connection.create_aggregate(SQLITE_FUNCTION, 2, _SQLitePercentileCont)


def on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """`connection_created` receiver: gives every SQLite connection the aggregate."""
    if connection.vendor == "sqlite":
        install_sqlite(connection.connection)


class InSubquery(Lookup):
    """`lhs IN (subquery)` for a subquery that does not depend on the outer row (the
    ids of some outcomes), evaluated once per statement on both databases.

    SQLite runs such an IN subquery once into a temporary index. PostgreSQL would
    probe a hashed subplan for every row, which cost a third of a report statement
    that tests three such sets per session; `lhs = ANY(ARRAY(subquery))` is the same
    test with the subquery run once (an init plan) into a small array.
    """

    lookup_name = "in_subquery"  # used as an expression, not registered on a field
    prepare_rhs = False

    def _sides(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, str, tuple]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return lhs, rhs, (*lhs_params, *rhs_params)

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, tuple]:
        lhs, rhs, params = self._sides(compiler, connection)
        return f"{lhs} IN {rhs}", params

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple]:
        lhs, rhs, params = self._sides(compiler, connection)
        return f"{lhs} = ANY(ARRAY{rhs})", params
