"""Hamilton node modules, one per stage. A function's name is the artifact it produces; its parameters are its
upstream nodes or driver inputs (`settings`, `lakehouse`, `run_dir`, `as_of_ms`)."""
