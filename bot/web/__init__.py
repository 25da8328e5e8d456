"""The web dashboard, served by the bot process (aiohttp, server-rendered Jinja2 pages,
no external assets): on the webhook's listener under /dashboard/, or on a listener of its
own with polling.

- `sessions`: one-time sign-in links (/dashboard in a chat) and server-side sessions;
  every request reads the person's current staff role.
- `server`: the application, its security headers and the guard; `pages`: the pages,
  scoped to the viewer's street or the district; `templates/` and `static/`.
- `figures`: the few reads the statistics service does not offer; `exports`: the Excel
  downloads (bot.exports).
- `browser` and `screenshot`: Debian's headless Chromium through selenium, for the tests
  and the demo's picture of the overview.
"""
