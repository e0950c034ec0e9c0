// Encryption of datastore values set with `encrypt` (StackStorm's `secret: true`): AES-256-GCM
// (OpenSSL) with one symmetric key per deployment, kept in a file readable only by its owner.
// Every node of a deployment must use the same key file (gale.yaml datastore.encryption_key_path).
//
// A sealed value is bound to the key it is stored under (scope, user, name) through GCM's
// associated data, so whoever can write the store cannot move a secret into another key (one a
// rule reads into a less guarded action, say) and have it open there. Values sealed before the
// binding ("aes256gcm:") still open under any key; they are bound when next written.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "host/common/result.h"
#include "host/store/store.h"

namespace gale::store {

class KeyCipher {
 public:
  // Reads the key (64 hex digits) from `path`, or creates the file with a fresh random key and
  // mode 0600 (its directory 0700) when it does not exist. Refuses a file that others can read,
  // a symbolic link, and a file another user owns (whoever owns it can replace the key).
  static Result<KeyCipher> LoadOrCreate(const std::string& path);

  // "aes256gcm2:" + hex(12-byte nonce | ciphertext | 16-byte tag); a fresh nonce every time, and
  // `key` as associated data. Fails only when OpenSSL does (no randomness, no memory).
  Result<std::string> Encrypt(const KeyRef& key, std::string_view plain) const;
  // The plain text of Encrypt()'s output for the same `key` (or of a value sealed before the
  // binding, under any key); an error naming `key` (never the plain text) when it was altered,
  // sealed for another key, or sealed with another key file.
  Result<std::string> Decrypt(const KeyRef& key, std::string_view sealed) const;
  // For a ciphertext that did not come from a datastore key (a literal in a template): opens only
  // values sealed before the binding; a bound value is refused with how to read it instead.
  Result<std::string> DecryptUnbound(std::string_view sealed) const;

  // "system:NAME" or "user:USER:NAME", as errors name a key.
  static std::string Describe(const KeyRef& key);

 private:
  std::array<unsigned char, 32> key_{};
};

}  // namespace gale::store
