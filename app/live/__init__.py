"""What several instances share about replies in flight, in Redis: each reply's text (a stream), Stop, and leases.

- `link.Link`: the instance's connection to Redis and whether it is up (one log line down, one back; never a crash).
- `stream.ReplyWriter` / `stream.ReplyReader`: a Redis Stream per reply; the writer appends each batch of deltas in
  one pipelined round trip, the reader reads from any character offset and then follows until the end entry.
- `stop.StopChannel`: Stop pressed on any instance reaches the one holding the upstream (Redis pub/sub).
- `channel.Channel`: the pub/sub listener Stop uses, also carrying change notices (`notices.Notice`, sent with
  `Live.announce`): a reply started, a conversation renamed, deleted, switched to another version or set up anew; the
  instances holding it in memory take the change from the database, and those showing the person's list reload it.
- `lease.Reaper`: a reply whose writer died (its lease expired with no end entry) is marked interrupted exactly once,
  by whichever instance notices first, through an atomic claim in Redis.

Nothing here imports the chat runtime: it deals in reply ids, text and statuses, and the runtime wires it in.
"""
