"""The chat benchmark's figures as markdown tables, then each target of the issue, met or not."""

from __future__ import annotations

from typing import Any

# Targets from the issue "Conversations that last".
CPU_MARGIN = 0.10  # server CPU per streamed reply within 10% of the design before the database
WS_MARGIN = 0.02  # "websocket bytes unchanged": the old design's own bytes vary by about this much between rounds
FIRST_PAINT_MS = 300.0  # a conversation of 1,000 messages paints within this
DRAWER_MS = 200.0  # the drawer with 10,000 conversations opens and searches within this


def tables(results: dict[str, Any]) -> list[str]:
    """Every part that ran, as a table with its verdicts."""
    lines: list[str] = []
    if 'reply' in results:
        lines += _replies(results['reply'], results.get('reply_baseline'), results.get('reply_margin', CPU_MARGIN))
    if 'redis_commands' in results:
        lines += [f"Redis commands during the run: {results['redis_commands']}", '']
    if 'history' in results:
        lines += _history(results['history'])
    if 'drawer' in results:
        lines += _drawer(results['drawer'])
    loads = ', '.join(f'{part} {start} → {end}' for part, (start, end) in results.get('load_average', {}).items())
    return [*lines, f'Machine load average (1 min) at the start → end of each part: {loads}.']


def _ms(value: float | None) -> str:
    return '-' if value is None else f'{value:,.0f}'


def _replies(rows: dict[str, dict[str, Any]], baseline: str | None = None, margin: float = CPU_MARGIN) -> list[str]:
    """The replies table, then each app against the baseline (by default the design before the database)."""
    def is_baseline(key: str) -> bool:
        return _split(key)[0] == baseline if baseline else key.startswith('before')

    lines = ['| app | turn | deltas | server CPU / reply | ws bytes / reply | wire bytes | ws messages | DB writes | '
             'save turn | sidebar refresh | Enter → prompt shown | Enter → first text | Enter → final |',
             '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    for key, row in rows.items():
        app, turn, pace = _split(key)
        lines.append(f"| {app} | {turn} | {pace} apart | {row['cpu_s']:.3f} s | {row['ws_bytes']:,.0f} | "
                     f"{row['wire_bytes']:,.0f} | {row['ws_messages']:.0f} | {row['db_writes']:.0f} | "
                     f"{_ms(row['save_turn_ms'])} ms | {_ms(row['sidebar_ms'])} ms | "
                     f"{_ms(row['prompt_shown_ms'])} ms | "
                     f"{_ms(row['first_text_ms'])} ms | {row['final_ms'] / 1000:.2f} s |")
    lines.append('')
    old = {_split(key)[1:]: row for key, row in rows.items() if is_baseline(key)}
    for key, row in rows.items():
        app, turn, pace = _split(key)
        if is_baseline(key) or (turn, pace) not in old:
            continue
        if 'attribution' in app:  # not the app as shipped: only how much of the difference checkpoints make
            lines.append(f"- {app}, {turn}, {pace}: CPU {row['cpu_s'] / old[turn, pace]['cpu_s'] - 1:+.0%}")
            continue
        cpu = row['cpu_s'] / old[turn, pace]['cpu_s'] - 1
        ws = row['ws_bytes'] / old[turn, pace]['ws_bytes'] - 1
        if baseline:  # the same page against itself: its bytes are figures, not a target
            lines.append(f'- {app}, {turn}, {pace}: CPU {cpu:+.0%} (target at most +{margin:.0%}): '
                         f"{'MET' if cpu <= margin else 'NOT MET'}; websocket bytes {ws:+.0%}")
            continue
        lines.append(f'- {app}, {turn}, {pace}: CPU {cpu:+.0%} (target at most +{margin:.0%}): '
                     f"{'MET' if cpu <= margin else 'NOT MET'}; websocket bytes {ws:+.0%} (target unchanged): "
                     f"{'MET' if abs(ws) <= WS_MARGIN else 'NOT MET'}")
    return [*lines, '']


def _split(key: str) -> tuple[str, str, str]:
    """'app: turn @10 ms' → (app, turn, '10 ms')."""
    app, rest = key.split(': ', 1)
    turn, pace = rest.split(' @')
    return app, turn, pace


def _history(rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = ['| page | messages shown | first contentful paint | rendered | HTML response | HTML bytes | ws bytes | '
             'server: load | server: build | server CPU | "Show earlier" (+50) |',
             '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    for name, row in rows.items():
        lines.append(f"| {name} | {row['messages_shown']:.0f} | {_ms(row['fcp_ms'])} ms | "
                     f"{_ms(row['rendered_ms'])} ms | {_ms(row['html_response_ms'])} ms | "
                     f"{row['html_bytes']:,.0f} | {row['ws_bytes']:,.0f} | {_ms(row['server_open_ms'])} ms | "
                     f"{_ms(row['server_build_ms'])} ms | {_ms(row['server_cpu_ms'])} ms | "
                     f"{_ms(row['show_earlier_ms'])} ms |")
    lines.append('')
    for name, row in rows.items():
        if name.startswith('new chat'):
            continue
        shown = max(row['fcp_ms'] or 0, row['rendered_ms'])  # painted, with the last message in its final form
        verdict = 'MET' if shown < FIRST_PAINT_MS else 'NOT MET'
        lines.append(f'- {name}: painted with the last message {shown:.0f} ms after navigation start '
                     f'(target < {FIRST_PAINT_MS:.0f}): {verdict}')
    return [*lines, '']


def _drawer(rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = ['| drawer | results | end to end | of which debounce | after the debounce | server: query | '
             'server: query + list built | server CPU |',
             '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
    opened, more = rows['open'], rows['load more']['load_more_ms']
    lines.append(f"| open (navigation start → 50 listed) | 50 | {_ms(opened['listed_ms'])} ms | - | - | "
                 f"{_ms(opened['query_ms'])} ms | {_ms(opened['refresh_ms'])} ms | {_ms(opened['server_cpu_ms'])} ms |")
    lines.append(f"| open (navigation start → first contentful paint) | 50 | {_ms(opened['fcp_ms'])} ms | - | - | - | "
                 "- | - |")
    lines.append(f'| Load more (click → 100 listed) | 100 | {_ms(more)} ms | - | - | - | - | - |')
    searches = {name.removeprefix('search: '): row for name, row in rows.items() if name.startswith('search: ')}
    for name, row in searches.items():
        lines.append(f"| search: {name} | {row['results']:.0f} | {_ms(row['end_to_end_ms'])} ms | "
                     f"{row['debounce_ms']:.0f} ms | {_ms(row['end_to_end_ms'] - row['debounce_ms'])} ms | "
                     f"{_ms(row['query_ms'])} ms | {_ms(row['refresh_ms'])} ms | {_ms(row['server_cpu_ms'])} ms |")
    lines.append('')
    shown = max(opened['fcp_ms'] or 0, opened['listed_ms'])  # painted, with the first page listed
    verdict = 'MET' if shown < DRAWER_MS else 'NOT MET'
    lines.append(f"- open: painted with 50 listed {shown:.0f} ms after navigation start (target < {DRAWER_MS:.0f}): "
                 f'{verdict}')
    for name, row in searches.items():
        e2e, net = row['end_to_end_ms'], row['end_to_end_ms'] - row['debounce_ms']
        lines.append(f"- search, {name}: {e2e:.0f} ms end to end (target < {DRAWER_MS:.0f}): "
                     f"{'MET' if e2e < DRAWER_MS else 'NOT MET'}; {net:.0f} ms after the debounce: "
                     f"{'MET' if net < DRAWER_MS else 'NOT MET'}")
    return [*lines, '']
