package promote

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// loadSignKey reads an OpenPGP private key (armored, or binary) able to sign,
// decrypting it with the passphrase file when it is encrypted.
func loadSignKey(file, passphraseFile string) (*openpgp.Entity, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--sign: %w", err)
	}
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil {
		if bin, berr := openpgp.ReadKeyRing(bytes.NewReader(data)); berr == nil {
			keys, err = bin, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("--sign %s: not an OpenPGP key: %w", file, err)
	}
	entity := firstPrivate(keys)
	if entity == nil {
		return nil, fmt.Errorf("--sign %s: holds no private key (export it with gpg --armor --export-secret-keys)", file)
	}
	if encrypted(entity) {
		if err := decrypt(entity, file, passphraseFile); err != nil {
			return nil, err
		}
	}
	key, ok := entity.SigningKey(time.Now())
	if !ok || key.PrivateKey == nil {
		return nil, fmt.Errorf("--sign %s: the key has no valid signing key (expired or revoked?)", file)
	}
	return entity, nil
}

// firstPrivate is the first entity of keys holding a private key, nil when none does.
func firstPrivate(keys openpgp.EntityList) *openpgp.Entity {
	for _, e := range keys {
		if e.PrivateKey != nil {
			return e
		}
	}
	return nil
}

// encrypted reports whether the primary key or any subkey is passphrase-protected.
func encrypted(e *openpgp.Entity) bool {
	if e.PrivateKey.Encrypted {
		return true
	}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey != nil && sk.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}

// decrypt decrypts the entity's private keys with the passphrase in passphraseFile
// (a trailing newline is not part of it); file names the key in errors.
func decrypt(e *openpgp.Entity, file, passphraseFile string) error {
	if passphraseFile == "" {
		return fmt.Errorf("--sign %s: the key is encrypted; give its passphrase with --sign-passphrase-file", file)
	}
	pass, err := os.ReadFile(passphraseFile)
	if err != nil {
		return fmt.Errorf("--sign-passphrase-file: %w", err)
	}
	if err := e.DecryptPrivateKeys(bytes.TrimRight(pass, "\r\n")); err != nil {
		return fmt.Errorf("--sign %s: cannot decrypt the key: %w", file, err)
	}
	return nil
}
