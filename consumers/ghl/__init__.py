"""LeadConnector (GoHighLevel): its API as hookgate uses it (provider-apis.md §2)."""
