"""Settings the console can change while gsmgw runs (limits per SIM, quiet hours, frequency cap):
overrides of the config file's values, stored in the database so every gateway sharing it sees them."""
