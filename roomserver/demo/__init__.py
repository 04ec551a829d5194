"""The demo casino (sandbox mode): a lobby page on one origin embedding the game from another.

`assets` finds the pages (`clients/demo/`) and the browser SDK's bundle, `site` builds the two
HTTP applications, `server` binds and serves them; `tokens` signs sandbox players' tokens.
"""
