package verify

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"function/archive/bucket"
)

// Source is the archive as the verifier reads it: the bucket itself, or a
// downloaded copy of it. Keys are object keys; version "" is the current
// one (a copy has only that).
type Source interface {
	// List lists the objects under prefix, in key order.
	List(ctx context.Context, prefix string) ([]bucket.Object, error)
	// Versions lists every version of the objects under prefix (a copy
	// has one of each).
	Versions(ctx context.Context, prefix string) ([]bucket.Object, error)
	// ReadAll reads a small object: a manifest, signature, key or checkpoint.
	ReadAll(ctx context.Context, key, version string) ([]byte, error)
	// Open opens an object for reading at offsets (a Parquet part), with
	// its size and SHA-256, computed as it was read.
	Open(ctx context.Context, key, version string) (File, Digest, error)
}

// Digest is an object's size and SHA-256.
type Digest struct {
	Size   int64
	SHA256 []byte
}

// File is an open object.
type File interface {
	io.ReadSeekCloser
	io.ReaderAt
}

// Bucket is the live bucket as a Source. Parts are downloaded to a
// temporary file in tempDir ("": the system's) while they are read: a
// Parquet reader reads at many offsets, each of which would otherwise be a
// request, and a part may be larger than memory.
func Bucket(s *bucket.Store, tempDir string) Source { return bucketSource{s, tempDir} }

type bucketSource struct {
	s       *bucket.Store
	tempDir string
}

func (b bucketSource) List(ctx context.Context, prefix string) ([]bucket.Object, error) {
	return b.s.List(ctx, prefix)
}

func (b bucketSource) Versions(ctx context.Context, prefix string) ([]bucket.Object, error) {
	return b.s.Versions(ctx, prefix)
}

func (b bucketSource) ReadAll(ctx context.Context, key, version string) ([]byte, error) {
	return b.s.GetBytes(ctx, key, version)
}

func (b bucketSource) Open(ctx context.Context, key, version string) (File, Digest, error) {
	f, err := os.CreateTemp(b.tempDir, "auditfn-verify-*.parquet")
	if err != nil {
		return nil, Digest{}, err
	}
	tf := tempFile{f}
	w := bufio.NewWriterSize(f, 1<<20)
	var d Digest
	if d.Size, d.SHA256, err = b.s.Get(ctx, key, version, w); err == nil {
		if err = w.Flush(); err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
	}
	if err != nil {
		tf.Close()
		return nil, Digest{}, err
	}
	return tf, d, nil
}

// tempFile is a downloaded object, removed when closed.
type tempFile struct{ *os.File }

func (t tempFile) Close() error {
	err := t.File.Close()
	os.Remove(t.Name())
	return err
}

// Dir is a downloaded copy of the bucket as a Source: object keys as paths
// under the copy's root (the folder holding audit_events/), as `mc mirror`
// writes them. name is where the copy is, for findings.
func Dir(fsys fs.FS, name string) Source { return dirSource{fsys, name} }

type dirSource struct {
	fsys fs.FS
	name string
}

func (d dirSource) String() string { return d.name }

func (d dirSource) List(_ context.Context, prefix string) ([]bucket.Object, error) {
	var out []bucket.Object
	root := "." // the folder prefix lies in
	if i := strings.LastIndex(prefix, "/"); i > 0 {
		root = prefix[:i]
	}
	err := fs.WalkDir(d.fsys, root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if strings.HasPrefix(p, prefix) {
			out = append(out, bucket.Object{Key: p})
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // nothing under prefix; an empty archive is reported as such
	}
	return out, err
}

func (d dirSource) Versions(ctx context.Context, prefix string) ([]bucket.Object, error) {
	return d.List(ctx, prefix)
}

func (d dirSource) ReadAll(_ context.Context, key, _ string) ([]byte, error) {
	return fs.ReadFile(d.fsys, key)
}

func (d dirSource) Open(_ context.Context, key, _ string) (File, Digest, error) {
	f, err := d.fsys.Open(key)
	if err != nil {
		return nil, Digest{}, err
	}
	rf, ok := f.(File)
	if !ok {
		f.Close()
		return nil, Digest{}, fmt.Errorf("%s: the archive copy's files cannot be read at an offset", key)
	}
	h := sha256.New()
	size, err := io.Copy(h, rf)
	if err == nil {
		_, err = rf.Seek(0, io.SeekStart)
	}
	if err != nil {
		rf.Close()
		return nil, Digest{}, err
	}
	return rf, Digest{Size: size, SHA256: h.Sum(nil)}, nil
}
