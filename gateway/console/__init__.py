"""The operators' web console under `/console`: sign-in, source cards, actions.

The pages are rendered here; every action is the page's script calling the JSON admin
API with the session cookie and its CSRF token (`gateway.admin.sources.BearerAuth`
admits a signed-in console session in place of the bearer token).
"""
