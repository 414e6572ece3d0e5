"""How long a page may take to build, and what a page that took too long leaves behind (nothing).

NiceGUI answers a page whose build outlasts its `response_timeout` with a 500 error page and deletes the tab's
client. Under a heavy load (the soak, load average 10-13) the chat page's build, a few database reads, took over
NiceGUI's default of 3 s for 3 page loads in 4,000. Each also left a task behind for good: NiceGUI 3.18's page
handler (nicegui/page.py, the `if not done` branch) cancels the build but not the task it started beside it to wait
for the tab's socket, an `Event.wait` on the client's "waiting for connection" event, which a deleted client never
sets.
"""

from __future__ import annotations

from nicegui import Client, app

# Longest a page build may take before NiceGUI serves its error page. A slow page beats an error page, so well over
# NiceGUI's 3 s (which a loaded machine's database reads passed); past this the person has likely given up anyway.
RESPONSE_TIMEOUT = 10.0


def release_connection_waits() -> None:
    """When any tab's client is deleted, end NiceGUI's wait for its socket, so a timed-out page leaves no task.

    Setting the event is what a page builder awaiting `client.connected()` does; the only waiter of a deleted
    client is that orphaned task (on every other path NiceGUI cancels it first), which then simply ends.
    """
    app.on_delete(_release)


def _release(client: Client) -> None:
    client._waiting_for_connection.set()  # NiceGUI 3.18 has no public way to end that wait
