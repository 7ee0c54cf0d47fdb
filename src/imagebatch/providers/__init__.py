"""Provider adapters: each translates one image API's wire format to and from the domain."""
