"""What a tenant may do and reach: the author's rights a write needs, the hosts the operator may call."""
