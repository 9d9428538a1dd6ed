"""OAuth 2.0 and API calls shared by the providers' connections.

`client` speaks to a token endpoint (code exchange, refresh); `keeper` keeps one
source's access token fresh, one process at a time, over an injected `TokenStore`;
`api` makes a provider call with a source's authorization and maps its failures to
stable codes; `connect` is the connect flow and connection test over one provider's
facts (`consumers/<provider>/connect.py`).
"""
