"""From weights to trades: whole-lot rounding (`rounding`) and the orders of a run (`orders`); see docs/orders.md."""
