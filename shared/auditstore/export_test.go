package auditstore

// Where renders f's SQL conditions, as Search and Count use them.
func Where(f Filter) (string, []any) { return f.where() }
