"""Who is calling: partner API keys and OAuth 2.0 client credentials (private_key_jwt)."""
