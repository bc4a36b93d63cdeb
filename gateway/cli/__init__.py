"""The `gsmgw` command line: one module per command group."""
