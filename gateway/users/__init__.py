"""The console's people: users with roles, their passwords, the first-run setup code, the audit log."""
