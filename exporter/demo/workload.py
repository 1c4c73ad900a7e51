"""A small shop in the demo's PostgreSQL and a bounded background workload on it, so the
exporter's database series (connections, transactions, pg_stat_statements, table sizes) move
as they do in production.

:data:`SCHEMA` creates customers, products, orders and order items with some seed rows. The
workload places orders, restocks products and runs the reports a dashboard would, at
``--rate`` operations a second; it stops by itself after ``--max-operations`` operations or
``--max-seconds`` seconds, whichever comes first (make demo-stop ends it sooner). While the
database is down (a drill stopped it) it waits and reconnects, and says so once per outage.

``python -m exporter.demo.workload --dsn postgresql://postgres@/shop?host=...``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from exporter.demo.loops import pause, stop_on_signals
from exporter.durations import argparse_positive_seconds

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id bigserial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS products (
    id bigserial PRIMARY KEY,
    sku text NOT NULL UNIQUE,
    name text NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents > 0),
    stock integer NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS orders (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    status text NOT NULL DEFAULT 'paid',
    total_cents integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS orders_created_at ON orders (created_at);
CREATE TABLE IF NOT EXISTS order_items (
    order_id bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id bigint NOT NULL REFERENCES products (id),
    quantity integer NOT NULL CHECK (quantity > 0),
    price_cents integer NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
INSERT INTO customers (email)
SELECT 'customer' || g || '@example.invalid' FROM generate_series(1, 200) g
ON CONFLICT DO NOTHING;
INSERT INTO products (sku, name, price_cents, stock)
SELECT 'HR-' || lpad(g::text, 4, '0'), 'Hot rod part ' || g, 500 + g * 137 % 20000, 100
FROM generate_series(1, 60) g
ON CONFLICT DO NOTHING;
"""

DEFAULT_RATE = 2.0  # operations a second
DEFAULT_MAX_OPERATIONS = 200_000
DEFAULT_MAX_SECONDS = 12 * 3600.0
STATEMENT_TIMEOUT_MS = 5000


async def place_order(conn: Any, rng: random.Random) -> None:
    async with conn.transaction():
        customer = await conn.fetchval("SELECT id FROM customers ORDER BY random() LIMIT 1")
        order = await conn.fetchval(
            "INSERT INTO orders (customer_id) VALUES ($1) RETURNING id", customer
        )
        total = 0
        for product in rng.sample(range(1, 61), rng.randint(1, 4)):
            quantity = rng.randint(1, 3)
            price = await conn.fetchval(
                "UPDATE products SET stock = greatest(stock - $2, 0) WHERE id = $1 "
                "RETURNING price_cents",
                product,
                quantity,
            )
            await conn.execute(
                "INSERT INTO order_items (order_id, product_id, quantity, price_cents) "
                "VALUES ($1, $2, $3, $4)",
                order,
                product,
                quantity,
                price,
            )
            total += price * quantity
        await conn.execute("UPDATE orders SET total_cents = $2 WHERE id = $1", order, total)


async def restock(conn: Any, rng: random.Random) -> None:
    await conn.execute("UPDATE products SET stock = stock + 50 WHERE stock < 20")


async def report(conn: Any, rng: random.Random) -> None:
    await conn.fetch(
        "SELECT p.sku, sum(i.quantity) AS sold, sum(i.quantity * i.price_cents) AS revenue "
        "FROM order_items i JOIN products p ON p.id = i.product_id "
        "JOIN orders o ON o.id = i.order_id WHERE o.created_at > now() - interval '1 hour' "
        "GROUP BY p.sku ORDER BY revenue DESC LIMIT 10"
    )


async def browse(conn: Any, rng: random.Random) -> None:
    await conn.fetch(
        "SELECT id, name, price_cents FROM products WHERE stock > 0 ORDER BY name LIMIT 20 "
        "OFFSET $1",
        rng.randint(0, 40),
    )


Operation = Callable[[Any, random.Random], Awaitable[None]]
# each operation with its weight: mostly browsing and orders, a report now and then
OPERATIONS: tuple[tuple[Operation, float], ...] = (
    (place_order, 5),
    (browse, 10),
    (report, 2),
    (restock, 1),
)


async def run(
    dsn: str,
    rate: float = DEFAULT_RATE,
    max_operations: int = DEFAULT_MAX_OPERATIONS,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    stop: asyncio.Event | None = None,
) -> int:
    """Run the workload until a limit or ``stop``; the number of operations done."""
    import asyncpg

    stop = stop or asyncio.Event()
    rng = random.Random()
    deadline = time.monotonic() + max_seconds
    kinds = [op for op, _ in OPERATIONS]
    weights = [w for _, w in OPERATIONS]
    done = 0
    conn: Any = None
    down_since: float | None = None
    for _ in range(max_operations):
        if stop.is_set() or time.monotonic() > deadline:
            break
        try:
            if conn is None or conn.is_closed():
                conn = await asyncpg.connect(
                    dsn,
                    timeout=3,
                    server_settings={
                        "application_name": "shop-workload",
                        "statement_timeout": str(STATEMENT_TIMEOUT_MS),
                    },
                )
            await rng.choices(kinds, weights)[0](conn, rng)
            done += 1
            if down_since is not None:
                print(f"database back after {time.monotonic() - down_since:.0f}s", flush=True)
                down_since = None
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            if down_since is None:
                down_since = time.monotonic()
                print(f"database unavailable ({type(e).__name__}: {e}); retrying", flush=True)
            if conn is not None:
                conn.terminate()
                conn = None
            await pause(stop, 1.0)
            continue
        await pause(stop, rng.expovariate(rate))
    if conn is not None:
        await conn.close(timeout=3)
    return done


async def _main(args: argparse.Namespace) -> int:
    stop = stop_on_signals()
    print(f"workload: {args.rate}/s, at most {args.max_operations} operations", flush=True)
    done = await run(args.dsn, args.rate, args.max_operations, args.max_seconds, stop)
    print(f"workload stopped after {done} operations", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exporter.demo.workload", description="The demo shop's bounded workload."
    )
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE)
    parser.add_argument("--max-operations", type=int, default=DEFAULT_MAX_OPERATIONS)
    parser.add_argument(
        "--max-seconds", type=argparse_positive_seconds, default=DEFAULT_MAX_SECONDS
    )
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
