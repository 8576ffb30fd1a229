package auditlog

// DecodeEntry is decodeEntry: how Verify reads an entry line.
func DecodeEntry(line []byte, e *ExportEntry) error { return decodeEntry(line, e) }
