"""Market-data venues behind one protocol: synthetic (embedded default), ccxt, files."""
