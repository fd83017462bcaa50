"""Hamilton node modules, one per stage (`dataflows.driver.STAGES` orders and groups them). A node is a pure function
named for what it returns; its parameters are upstream nodes, the config group it reads (`nodes/config.py`) or the
driver's inputs (`settings`, `lakehouse`, `as_of_ms`, `run_id`; `run_dir` only for savers). Every file a run writes
is a saver (`dataflows.artifacts`); nodes that change the lakehouse carry `@tag(lakehouse="writes")`, values the
manifest records `@tag(manifest=...)`."""
