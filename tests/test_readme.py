"""Every `python -m dataflows ...` command of the README runs as written and exits 0 (except those needing the
network): run by bash from a fresh folder, as a newcomer pastes them, in README order on one shared data root.

`$HOME/ohlcv` (the "your own files" example) holds daily OHLCV CSVs up to yesterday, exported from the embedded
venue; `$PWD/tests/...` resolves through a `tests` link to the repository's tests folder; `holdings.csv` is a small
book of current holdings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NETWORK = ("venue=ccxt",)


def readme_commands() -> list[str]:
    """The `python -m dataflows` lines of the README's bash blocks (continuations joined, comments kept: bash drops
    them), in order."""
    text = (REPO / "README.md").read_text()
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [line.strip() for line in joined.splitlines() if line.strip().startswith("python -m dataflows")]
    return commands


COMMANDS = readme_commands()


def _own_files(folder: Path) -> None:
    """Five symbols of daily bars up to yesterday, as a user's downloaded CSVs (Date, Open, High, Low, Close,
    Volume)."""
    import datetime as dt

    import polars as pl

    from dataflows.venues.synthetic import SyntheticVenue

    now = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    as_of_ms = int(now.timestamp() * 1000)
    venue = SyntheticVenue(seed=3, as_of_ms=as_of_ms, defects=False)
    folder.mkdir(parents=True)
    for symbol in ("BTC/USDT", "ETH/USDT", "SOL/USDT", "LINK/USDT", "LTC/USDT"):
        start = as_of_ms - 800 * 86_400_000
        bars = pl.concat(
            [venue.ohlcv(symbol, "1d", since, 1000) for since in range(start, as_of_ms, 1000 * 86_400_000)]
        ).filter(pl.col("ts") < as_of_ms)
        frame = bars.select(
            pl.from_epoch(pl.col("ts").cast(pl.Int64), time_unit="ms").dt.date().alias("Date"),
            pl.col("open").alias("Open"),
            pl.col("high").alias("High"),
            pl.col("low").alias("Low"),
            pl.col("close").alias("Close"),
            pl.col("volume").alias("Volume"),
        )
        frame.write_csv(folder / f"{symbol.split('/')[0]}.csv")


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A fresh working folder and home, `python` on PATH being this environment's."""
    work = tmp_path_factory.mktemp("newcomer")
    home = work / "home"
    _own_files(home / "ohlcv")
    (work / "tests").symlink_to(REPO / "tests")
    (work / "holdings.csv").write_text("symbol,quantity\nBTC/USDT,0.5\nDOGE/USDT,1000\n")  # what the trader holds
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "HYDRA_"))}
    env |= {
        "HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": str(REPO),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    return {"cwd": work, "env": env}


def test_the_readme_has_the_commands_it_should() -> None:
    assert len(COMMANDS) >= 20
    verbs = {c.split()[3] for c in COMMANDS}
    assert {"run", "audit", "viz", "runs", "list", "scan", "config"} <= verbs


@pytest.mark.parametrize("command", COMMANDS, ids=[re.sub(r"\s+#.*", "", c)[19:70] for c in COMMANDS])
def test_readme_command_runs_as_written(command: str, newcomer: dict) -> None:
    if any(marker in command for marker in NETWORK):
        pytest.skip("needs the network")
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=newcomer["cwd"],
        env=newcomer["env"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{command}\nexit {done.returncode}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
