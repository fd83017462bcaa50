"""Orders from a run (`dataflows.trade.orders`): the holdings file, balances mapped to symbols, the orders table's
rules on hand-made targets, and end to end on the synthetic venue — `run ... trade.capital=... trade.holdings=...`
and the `orders` verb on a finished sleeve run and a meta run — checked against weights.csv and its prices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dataflows.errors import ConfigError
from dataflows.trade.orders import RunTargets, build_orders, holdings_from_balances, read_holdings
from dataflows.trade.rounding import on_grid

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "dataflows", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


# -- holdings ------------------------------------------------------------------------------------------------------


def test_holdings_file(tmp_path: Path) -> None:
    good = tmp_path / "h.csv"
    good.write_text("\ufeffSymbol,Quantity,comment\nBTC/USDT,0.5,core\n\nETH/USDT,-2,short\n")
    assert read_holdings(good) == {"BTC/USDT": 0.5, "ETH/USDT": -2.0}
    (tmp_path / "empty.csv").write_text("symbol,quantity\n")
    assert read_holdings(tmp_path / "empty.csv") == {}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (None, "no such file"),
        ("", "first line must name the columns symbol,quantity"),
        ("symbol,qty\nBTC/USDT,1\n", r"first line must name the columns symbol,quantity \(got symbol,qty\)"),
        ("symbol,quantity\nBTC/USDT,abc\n", "line 2: expected a symbol and a finite quantity"),
        ("symbol,quantity\nBTC/USDT,nan\n", "line 2"),
        ("symbol,quantity\n,3\n", "line 2"),
        ("symbol,quantity\nBTC/USDT,1\nBTC/USDT,2\n", "line 3: BTC/USDT is listed twice"),
    ],
)
def test_a_bad_holdings_file_is_one_line_naming_it(tmp_path: Path, text: str | None, error: str) -> None:
    path = tmp_path / "holdings.csv"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=error) as info:
        read_holdings(path)
    assert str(info.value).startswith(f"trade.holdings={path}:") and "\n" not in str(info.value)


def test_balances_become_holdings_and_cash() -> None:
    targets = pl.DataFrame({"symbol": ["BTC/USDT", "BTC/USDC", "ETH/USDT:USDT"], "target_weight": [0.3, -0.1, 0.2]})
    balances = {"BTC": 1.5, "ETH": 2.0, "USDT": 1000.0, "USDC": 50.0, "DOGE": 100.0, "XRP": 0.0}
    holdings, cash = holdings_from_balances(balances, targets)
    # BTC: the spot target of that base with the largest |weight|; ETH has only a swap target (a position, not a
    # balance): sold through ETH/<main quote>; DOGE is no target: sold; quote currencies are cash
    assert holdings == {"BTC/USDT": 1.5, "ETH/USDT": 2.0, "DOGE/USDT": 100.0}
    assert cash == {"USDT": 1000.0, "USDC": 50.0}


# -- the orders table on hand-made targets --------------------------------------------------------------------------


def _targets(rows: list[dict]) -> RunTargets:
    schema = {
        "symbol": pl.String, "target_weight": pl.Float64, "price": pl.Float64, "price_bar": pl.String,
        "tick_size": pl.Float64, "lot_size": pl.Float64, "min_notional": pl.Float64,
    }  # fmt: skip
    table = pl.DataFrame(rows, schema=schema, orient="row")
    return RunTargets(Path("/nowhere"), "hand", "2026-07-01T00:00:00+00:00", "run", table, None, {}, "1d", {})


BAR = "2026-06-30T00:00:00Z"


def test_orders_table_rules() -> None:
    run = _targets(
        [
            {"symbol": "AAA/USDT", "target_weight": 0.5, "price": 101.37, "price_bar": BAR, "tick_size": 0.01,
             "lot_size": 0.1, "min_notional": 5.0},
            {"symbol": "BBB/USDT", "target_weight": -0.3, "price": 2.5, "price_bar": BAR, "tick_size": None,
             "lot_size": 1.0, "min_notional": 5.0},
            {"symbol": "CCC/USDT", "target_weight": 0.19, "price": 3.0, "price_bar": BAR, "tick_size": 0.001,
             "lot_size": None, "min_notional": None},
            {"symbol": "DDD/USDT", "target_weight": 0.0001, "price": 50.0, "price_bar": BAR, "tick_size": 0.01,
             "lot_size": 1.0, "min_notional": 10.0},
        ]
    )  # fmt: skip
    holdings = {"AAA/USDT": 10.0, "DDD/USDT": 0.0, "ZZZ/USDT": 4.0}
    out = build_orders(run, capital=8986.3, holdings=holdings, default_lot=None)
    rows = {r["symbol"]: r for r in out.table.iter_rows(named=True)}
    equity = 8986.3 + 10 * 101.37
    assert out.summary["equity"] == pytest.approx(equity)
    a = rows["AAA/USDT"]  # 0.5 × 10,000 / 101.37 = 49.32 wanted, 10 held: buy 39.3 at the price rounded down
    assert a["side"] == "buy" and a["current_quantity"] == 10.0 and a["order_quantity"] == 39.3
    assert a["target_quantity"] == 49.3 and a["limit_price"] == 101.37 and a["notional"] == pytest.approx(39.3 * 101.37)
    b = rows["BBB/USDT"]  # a short target: a sell to a negative quantity, tick unknown: limit = price
    assert b["side"] == "sell" and b["order_quantity"] == -1200.0 and b["target_quantity"] == -1200.0
    assert b["limit_price"] == 2.5 and "tick unknown" in b["note"]
    c = rows["CCC/USDT"]  # no lot published, no default: fractional quantity, said so
    assert c["order_quantity"] == pytest.approx(0.19 * equity / 3.0, rel=1e-9)
    assert "lot unknown: fractional" in c["note"] and "min notional unknown" in c["note"]
    d = rows["DDD/USDT"]  # 0.0001 × 10,000 / 50 = 0.02 units wanted, lot 1: nothing to buy
    assert d["status"] == "none" and d["order_quantity"] == 0.0
    z = rows["ZZZ/USDT"]  # held, not in the weights, no price anywhere: listed, not valued, no order
    assert z["status"] == "unpriced" and z["current_quantity"] == 4.0 and "no price" in z["note"]
    assert out.summary["unpriced"] == 1 and out.summary["orders"] == 3
    gross = sum(abs(r["target_quantity"]) * r["price"] for r in rows.values() if r["status"] != "unpriced")
    assert gross <= equity * (1 + 1e-12)
    assert out.summary["tracking_error"]["reason"].startswith("no lakehouse")  # L1/L2 still given
    assert out.summary["weight_error"]["l1"] == pytest.approx(sum(abs(r["final_weight"] - r["target_weight"])
                                                              for r in rows.values() if r["status"] != "unpriced"))  # fmt: skip

    with_lot = build_orders(run, capital=8986.3, holdings=holdings, default_lot=0.5)
    c = next(r for r in with_lot.table.iter_rows(named=True) if r["symbol"] == "CCC/USDT")
    assert c["lot_size"] == 0.5 and c["order_quantity"] % 0.5 == 0 and "trade.default_lot=0.5" in c["note"]


def test_orders_below_the_min_notional_are_dropped_with_the_reason() -> None:
    run = _targets(
        [
            {"symbol": "BIG/USDT", "target_weight": 0.9, "price": 10.0, "price_bar": BAR, "tick_size": 0.01,
             "lot_size": 1.0, "min_notional": 5.0},
            {"symbol": "TINY/USDT", "target_weight": 0.0002, "price": 1.0, "price_bar": BAR, "tick_size": 0.01,
             "lot_size": 1.0, "min_notional": 10.0},
        ]
    )  # fmt: skip
    out = build_orders(run, capital=10_000.0, holdings={})
    tiny = out.table.filter(pl.col("symbol") == "TINY/USDT").row(0, named=True)
    # 2 units wanted (2.00 < 10): nothing (2 off) tracks better than the minimum of 10 units (8 off)
    assert tiny["status"] == "dropped" and tiny["order_quantity"] == 0.0
    assert "order of 2 (2.00) below min notional 10" in tiny["note"]
    assert out.summary["dropped"] == 1


# -- end to end on the synthetic venue ------------------------------------------------------------------------------


def _check_against_weights(run_dir: Path, orders_dir: Path, capital: float, holdings: dict[str, float]) -> dict:
    """orders.csv / orders.json against weights.csv: prices, targets, quantities, limits, budget, cash."""
    weights = {r["symbol"]: r for r in pl.read_csv(run_dir / "weights.csv").iter_rows(named=True)}
    orders = pl.read_csv(orders_dir / "orders.csv", schema_overrides={"limit_price": pl.Float64})
    summary = json.loads((orders_dir / "orders.json").read_text())
    rows = {r["symbol"]: r for r in orders.iter_rows(named=True)}
    assert set(weights) <= set(rows)
    priced = [r for r in rows.values() if r["status"] != "unpriced"]
    equity = capital + sum(holdings.get(r["symbol"], 0.0) * r["price"] for r in priced)
    assert summary["equity"] == pytest.approx(equity, rel=1e-12)
    spent = 0.0
    for s, r in rows.items():
        assert r["current_quantity"] == holdings.get(s, 0.0)
        if s in weights:  # the run's own price (the decision bar's close) and target weight
            w = weights[s]
            assert (
                r["price"] == w["price"] and r["price_bar"] == w["price_bar"] and r["target_weight"] == w["net_weight"]
            )
        else:
            assert r["target_weight"] == 0.0 and "not in the weights" in r["note"]
        if r["status"] == "unpriced":
            continue
        assert r["target_quantity"] == pytest.approx(r["current_quantity"] + r["order_quantity"], abs=1e-9)
        lot = r["lot_size"]
        if lot is not None and r["order_quantity"]:  # whole lots
            assert abs(r["order_quantity"] / lot - round(r["order_quantity"] / lot)) < 1e-6
        if r["status"] == "order":
            tick = r["tick_size"]
            assert (r["side"] == "buy") == (r["order_quantity"] > 0)
            assert r["limit_price"] <= r["price"] if r["side"] == "buy" else r["limit_price"] >= r["price"]
            if tick is not None:
                assert r["limit_price"] == on_grid(r["limit_price"], tick, "nearest")
                assert abs(r["limit_price"] - r["price"]) < tick
            assert r["notional"] == pytest.approx(abs(r["order_quantity"]) * r["limit_price"], rel=1e-12)
            assert r["min_notional"] is None or r["notional"] >= r["min_notional"] * (1 - 1e-9)
            spent += r["order_quantity"] * r["limit_price"]
        assert r["final_weight"] == pytest.approx(r["target_quantity"] * r["price"] / equity, rel=1e-9, abs=1e-15)
    gross = sum(abs(r["target_quantity"]) * r["price"] for r in priced)
    assert gross <= equity * (1 + 1e-12)  # the budget
    assert summary["cash_after"] == pytest.approx(capital - spent, abs=1e-6)
    l1 = sum(abs(r["final_weight"] - r["target_weight"]) for r in priced)
    assert summary["weight_error"]["l1"] == pytest.approx(l1, abs=1e-12)
    assert summary["greedy_l1"] is None or l1 <= summary["greedy_l1"] + 1e-15
    assert summary["tracking_error"]["daily"] is not None and "daily returns" in summary["tracking_error"]["basis"]
    return summary


def test_run_writes_orders_and_the_verb_trades_a_finished_run(tmp_path: Path) -> None:
    root = tmp_path / "data"
    holdings = tmp_path / "holdings.csv"
    holdings.write_text("symbol,quantity\nETH/USDT,-2\nNOLOT/USDT,10\nXYZ/USDT,3\n")
    common = ("run.as_of=2026-06-30", f"data.root={root}", "flow.skip_validation=true", "flow.skip_analysis=true")
    done = cli("run", *common, "run.id=traded", "trade.capital=100000", f"trade.holdings={holdings}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["outcome"] == "ok" and manifest["orders"]["orders"] > 0  # written before the manifest said ok
    held = {"ETH/USDT": -2.0, "NOLOT/USDT": 10.0, "XYZ/USDT": 3.0}
    summary = _check_against_weights(run_dir, run_dir, 100_000.0, held)
    rows = {r["symbol"]: r for r in pl.read_csv(run_dir / "orders.csv").iter_rows(named=True)}
    winners = set(pl.read_csv(run_dir / "weights.csv")["symbol"])
    if "ETH/USDT" not in winners:
        assert rows["ETH/USDT"]["order_quantity"] == 2.0 and rows["ETH/USDT"]["side"] == "buy"  # short covered
    if "NOLOT/USDT" not in winners:
        assert rows["NOLOT/USDT"]["order_quantity"] == -10.0 and "lot unknown" in rows["NOLOT/USDT"]["note"]
    assert rows["XYZ/USDT"]["status"] == "unpriced"
    assert summary["method"] in ("milp", "greedy") and summary["budget"].startswith("gross exposure <= equity")

    # the verb on the finished run, with the first weight held 3x over: its surplus is sold
    weights = pl.read_csv(run_dir / "weights.csv")
    top = weights.row(0, named=True)
    qty = round(3 * top["net_weight"] * 50_000 / top["price"] / top["lot_size"]) * top["lot_size"]
    (tmp_path / "now.csv").write_text(f"symbol,quantity\n{top['symbol']},{qty}\n")
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    verb = cli(
        "orders", str(run_dir), f"data.root={root}", "trade.capital=20000", "trade.holdings=now.csv", cwd=tmp_path
    )
    assert verb.returncode == 0, verb.stderr
    out = Path(verb.stdout.strip().splitlines()[-1])
    assert out.parent == run_dir / "orders" and "weight error L1" in verb.stderr
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before  # the run's files stay
    _check_against_weights(run_dir, out, 20_000.0, {top["symbol"]: qty})
    sold = pl.read_csv(out / "orders.csv").filter(pl.col("symbol") == top["symbol"]).row(0, named=True)
    assert sold["side"] == "sell"

    again = cli("orders", "traded", f"data.root={root}", "trade.capital=20000", "trade.holdings=now.csv", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # a run id works too; same inputs, same orders
    assert (Path(again.stdout.strip()) / "orders.csv").read_bytes() == (out / "orders.csv").read_bytes()

    (tmp_path / "bad.csv").write_text("symbol,quantity\nBTC/USDT,one\n")
    bad = cli("orders", str(run_dir), f"data.root={root}", "trade.capital=1", "trade.holdings=bad.csv", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert bad.stderr.startswith("error: trade.holdings=bad.csv: line 2")


def test_meta_orders_use_each_symbols_own_metadata_and_net_by_base(tmp_path: Path) -> None:
    root = tmp_path / "data"
    done = cli(
        "run", "meta=crypto_long_short", "+meta.net_by_base=true", "run.as_of=2026-06-30", f"data.root={root}",
        "flow.skip_validation=true", "flow.skip_analysis=true", "trade.capital=250000", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    flat = pl.read_csv(run_dir / "flattened_weights.csv")
    orders = pl.read_csv(run_dir / "orders.csv")
    assert sorted(orders["symbol"]) == sorted(flat["symbol"])  # one line per quote: every flattened symbol
    sleeve_rows = pl.concat(
        [
            pl.read_csv(p).select("symbol", "price", "lot_size", "tick_size")
            for p in run_dir.glob("sleeves/*/weights.csv")
        ]
    ).unique()
    own = {r["symbol"]: r for r in sleeve_rows.iter_rows(named=True)}
    for r in orders.iter_rows(named=True):
        meta = own[r["symbol"]]
        assert (r["price"], r["lot_size"], r["tick_size"]) == (meta["price"], meta["lot_size"], meta["tick_size"])
        assert r["target_weight"] == flat.filter(pl.col("symbol") == r["symbol"])["net"][0]
    netted = pl.read_csv(run_dir / "netted_weights.csv")
    assert netted["net"].sum() == pytest.approx(flat["net"].sum(), abs=1e-12)
    assert netted["gross"].sum() == pytest.approx(flat["gross"].sum(), abs=1e-12)
    summary = json.loads((run_dir / "orders.json").read_text())
    assert summary["kind"] == "meta" and summary["gross_final"] <= 1 + 1e-12
    assert np.isclose(summary["equity"], 250000.0)
