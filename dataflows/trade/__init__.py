"""From weights to trades (method note: docs/orders.md).

`orders` runs the steps for the `run` and `orders` verbs and writes orders.csv / orders.json: `targets` (a finished
run's weights, prices and venue metadata), `holdings` (the holdings file or the account's balances), `build` (the
orders table, rounded to whole lots by `rounding`) and `summary` (orders.json's summary and tracking error).
"""
