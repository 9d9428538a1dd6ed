"""What the providers' store handlers share: payload helpers, the phone cache, the
counting of imported records. Each provider's handlers live with the rest of its
consumer-side knowledge (`consumers/<provider>/handler.py`); `consumers.providers`
composes them into the registry.
"""
