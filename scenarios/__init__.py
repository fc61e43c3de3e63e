"""Built-in scenarios of raveforce-mae: one TOML file per task (see README.md)."""
