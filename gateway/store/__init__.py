"""The database: engine set-up, the one declarative Base, migrations, group commit, prepared statements."""
