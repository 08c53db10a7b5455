package lab

import (
	"fmt"
	"os"
	"path/filepath"
)

// SecretVolume is a directory laid out as Kubernetes mounts a secret or
// a cert-manager certificate: each file name is a symlink to ..data/name,
// ..data is a symlink to a version directory, and an update writes a new
// version directory and swaps ..data with one rename, so a reader sees
// the old set of files or the new one, never a mix.
type SecretVolume struct {
	Dir     string
	version int
}

// NewSecretVolume publishes files (name to content) as the first version
// of a volume in dir.
func NewSecretVolume(dir string, files map[string][]byte) (*SecretVolume, error) {
	v := &SecretVolume{Dir: dir}
	if err := v.Publish(files); err != nil {
		return nil, err
	}
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Path is where a reader finds the file name.
func (v *SecretVolume) Path(name string) string { return filepath.Join(v.Dir, name) }

// Publish makes files the current version, atomically. Names not in files
// disappear from view (their symlinks dangle), as in a real volume.
func (v *SecretVolume) Publish(files map[string][]byte) error {
	v.version++
	version := fmt.Sprintf("..v%d", v.version)
	if err := os.Mkdir(filepath.Join(v.Dir, version), 0o755); err != nil {
		return err
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(v.Dir, version, name), content, 0o600); err != nil {
			return err
		}
	}
	tmp := filepath.Join(v.Dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(v.Dir, "..data"))
}

// Unpublish removes the current version from view, as a volume does for a
// moment during some updates: every file is missing until Publish.
func (v *SecretVolume) Unpublish() error {
	return os.Remove(filepath.Join(v.Dir, "..data"))
}
