"""The kopf operator: watches feed caches, a work queue drives reconciles, pure logic decides."""
