"""Leader election's pure rules (client-go's Lease semantics)."""
