"""The vault's cryptography: keyed hashing, AES-GCM keyrings, sealed blobs."""
