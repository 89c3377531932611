package oco

import (
	"archive/zip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// unpackLimits bound what a package may unpack to.
type unpackLimits struct {
	MaxFiles int
	MaxBytes int64
}

// unpack extracts the ZIP archive at zipPath into dir (which must exist
// and be empty). Every write goes through an os.Root on dir, so no entry
// can land outside it, whatever its name or the links before it; names are
// also checked (no absolute paths, no ".."), symbolic links must stay
// inside dir, and the file count and the bytes actually decompressed are
// bounded. It returns the number of files and bytes written.
func unpack(zipPath, dir string, lim unpackLimits) (files int, written int64, err error) {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: not a ZIP archive: %v", ErrPackage, err)
	}
	defer zr.Close()
	return unpackFiles(zr.File, dir, lim)
}

func unpackFiles(entries []*zip.File, dir string, lim unpackLimits) (files int, written int64, err error) {
	if len(entries) > lim.MaxFiles {
		return 0, 0, fmt.Errorf("%w: %d entries, the limit is %d", ErrPackage, len(entries), lim.MaxFiles)
	}
	var declared uint64
	for _, f := range entries {
		declared += f.UncompressedSize64
	}
	if declared > uint64(lim.MaxBytes) {
		return 0, 0, fmt.Errorf("%w: %d bytes unpacked, the limit is %d", ErrPackage, declared, lim.MaxBytes)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, 0, err
	}
	defer root.Close()
	var links []string
	seen := map[string]bool{}
	for _, f := range entries {
		name, isDir, err := entryName(f.Name)
		if err != nil {
			return files, written, err
		}
		if name == "." {
			continue
		}
		if seen[name] && !isDir {
			return files, written, fmt.Errorf("%w: %q appears twice", ErrPackage, f.Name)
		}
		seen[name] = true
		mode := f.Mode()
		switch {
		case isDir || mode.IsDir():
			if err := root.MkdirAll(name, 0o755); err != nil {
				return files, written, fmt.Errorf("%w: %q: %v", ErrPackage, f.Name, err)
			}
		case mode&fs.ModeSymlink != 0:
			target, err := readLinkTarget(f)
			if err != nil {
				return files, written, err
			}
			if path.IsAbs(target) || !filepath.IsLocal(path.Join(path.Dir(name), target)) {
				return files, written, fmt.Errorf("%w: link %q points out of the package (%q)", ErrPackage, f.Name, target)
			}
			if err := mkParent(root, name); err != nil {
				return files, written, err
			}
			if err := root.Symlink(target, name); err != nil {
				return files, written, fmt.Errorf("%w: link %q: %v", ErrPackage, f.Name, err)
			}
			links = append(links, name)
		case mode.IsRegular():
			if err := mkParent(root, name); err != nil {
				return files, written, err
			}
			n, err := extractFile(root, f, name, lim.MaxBytes-written)
			written += n
			if err != nil {
				return files, written, err
			}
			files++
		default:
			return files, written, fmt.Errorf("%w: %q is a %v, not a file", ErrPackage, f.Name, mode.Type())
		}
	}
	// A link is checked where it really leads, through the links before it.
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return files, written, err
	}
	for _, l := range links {
		p, err := filepath.EvalSymlinks(filepath.Join(dir, l))
		if err != nil {
			return files, written, fmt.Errorf("%w: link %q: %v", ErrPackage, l, err)
		}
		if rel, err := filepath.Rel(realDir, p); err != nil || !filepath.IsLocal(rel) {
			return files, written, fmt.Errorf("%w: link %q leads out of the package", ErrPackage, l)
		}
	}
	return files, written, nil
}

// entryName cleans an entry's name ('\' counts as a separator, as archives
// made on Windows use it) and refuses names leaving the directory.
func entryName(raw string) (string, bool, error) {
	n := strings.ReplaceAll(raw, `\`, "/")
	isDir := strings.HasSuffix(n, "/")
	if n == "" || strings.ContainsRune(n, 0) || path.IsAbs(n) || (len(n) > 1 && n[1] == ':') {
		return "", false, fmt.Errorf("%w: entry name %q", ErrPackage, raw)
	}
	c := path.Clean(n)
	if !filepath.IsLocal(c) {
		return "", false, fmt.Errorf("%w: entry %q leaves the package directory", ErrPackage, raw)
	}
	return c, isDir, nil
}

func mkParent(root *os.Root, name string) error {
	if d := path.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("%w: %q: %v", ErrPackage, name, err)
		}
	}
	return nil
}

func readLinkTarget(f *zip.File) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", fmt.Errorf("%w: link %q: %v", ErrPackage, f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4097))
	if err != nil || len(b) == 0 || len(b) > 4096 {
		return "", fmt.Errorf("%w: link %q: bad target", ErrPackage, f.Name)
	}
	return string(b), nil
}

// extractFile writes one entry, at most budget bytes of it.
func extractFile(root *os.Root, f *zip.File, name string, budget int64) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, fmt.Errorf("%w: %q: %v", ErrPackage, f.Name, err)
	}
	defer rc.Close()
	perm := f.Mode().Perm()&0o755 | 0o600
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return 0, fmt.Errorf("%w: %q: %v", ErrPackage, f.Name, err)
	}
	n, err := io.Copy(out, io.LimitReader(rc, budget+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	switch {
	case n > budget:
		return n, fmt.Errorf("%w: more than the limit of unpacked bytes", ErrPackage)
	case err != nil:
		return n, fmt.Errorf("%w: %q: %v", ErrPackage, f.Name, err)
	}
	return n, nil
}
