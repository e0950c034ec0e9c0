// Encryption of datastore values set with `encrypt` (StackStorm's `secret: true`): AES-256-GCM
// (OpenSSL) with one symmetric key per deployment, kept in a file readable only by its owner.
// Every node of a deployment must use the same key file (gale.yaml datastore.encryption_key_path).
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "host/common/result.h"

namespace gale::store {

class KeyCipher {
 public:
  // Reads the key (64 hex digits) from `path`, or creates the file with a fresh random key and
  // mode 0600 (its directory 0700) when it does not exist. Refuses a file that others can read.
  static Result<KeyCipher> LoadOrCreate(const std::string& path);

  // "aes256gcm:" + hex(12-byte nonce | ciphertext | 16-byte tag); a fresh nonce every time.
  std::string Encrypt(std::string_view plain) const;
  // The plain text of Encrypt()'s output; an error (never the plain text) when it was altered or
  // sealed with another key.
  Result<std::string> Decrypt(std::string_view sealed) const;

 private:
  std::array<unsigned char, 32> key_{};
};

}  // namespace gale::store
