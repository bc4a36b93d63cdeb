"""Who is written to: contacts, tags, groups, rule segments, CSV import and export."""
