package auditlog

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"golang.org/x/mod/sumdb/tlog"
)

// ExportFormat names the export format in its header line.
const ExportFormat = "clavis-audit-export/v1"

// ExportHeader is the first line of an export: the tenant and the signed
// checkpoint that every entry after it is checked against.
type ExportHeader struct {
	Format     string `json:"format"`
	Tenant     string `json:"tenant"`
	Checkpoint string `json:"checkpoint"` // the signed note
}

// ExportEntry is every other line of an export, one per leaf index,
// 0 up to the checkpoint's size: the store's event at that place in the
// tenant's order, and what the log recorded there. An auditor recomputes
// the leaf hash from the entry; the recorded hash and event id only say
// where the store and the log part ways, so that a failure names the
// event. The verdict comes from the signed root alone.
type ExportEntry struct {
	Entry
	// LoggedHash is the leaf hash the log recorded at this index.
	LoggedHash tlog.Hash `json:"logged_hash"`
	// LoggedID is the id of the event the log recorded at this index.
	LoggedID string `json:"logged_id"`
	// Missing says that the store holds no event at this index: it ends
	// before the checkpoint does. Only Index, LoggedHash and LoggedID are
	// set.
	Missing bool `json:"missing,omitempty"`
}

// ExportWriter writes an export as JSON Lines.
type ExportWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewExportWriter writes the header line and returns a writer for the
// entries. Call Flush at the end.
func NewExportWriter(w io.Writer, h ExportHeader) (*ExportWriter, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	h.Format = ExportFormat
	if err := enc.Encode(h); err != nil {
		return nil, fmt.Errorf("auditlog: write export header: %w", err)
	}
	return &ExportWriter{w: bw, enc: enc}, nil
}

// Write writes one entry line.
func (x *ExportWriter) Write(e ExportEntry) error {
	if err := x.enc.Encode(e); err != nil {
		return fmt.Errorf("auditlog: write export entry %d: %w", e.Index, err)
	}
	return nil
}

// Flush writes what is buffered.
func (x *ExportWriter) Flush() error { return x.w.Flush() }

// ErrExport matches an export that cannot be read: not JSON Lines of the
// format, lines out of order.
var ErrExport = errors.New("auditlog: malformed export")

// maxLine bounds one line of an export.
const maxLine = 16 << 20

// readHeader reads the first line of an export.
func readHeader(r *bufio.Reader) (ExportHeader, error) {
	line, err := readLine(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return ExportHeader{}, fmt.Errorf("%w: empty", ErrExport)
		}
		return ExportHeader{}, err
	}
	var h ExportHeader
	if err := json.Unmarshal(line, &h); err != nil || h.Format != ExportFormat {
		return ExportHeader{}, fmt.Errorf("%w: the first line is not a %s header", ErrExport, ExportFormat)
	}
	return h, nil
}

// readLine returns the next line without its newline, io.EOF at the end.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLine {
			return nil, fmt.Errorf("%w: a line is longer than %d bytes", ErrExport, maxLine)
		}
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return line, nil
		default:
			return nil, err
		}
	}
}
