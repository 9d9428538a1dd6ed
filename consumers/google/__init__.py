"""Google Calendar: the API client, the incremental sync and the coalescing handler."""
