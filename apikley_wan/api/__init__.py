"""The apikley protocol, in one place: the client (client.py) and its upload and download halves, how a call
travels (transport.py), the task's messages (tasks.py), server text made safe (untrusted.py), the cancel hook
(cancel.py), which hosts are local (hosts.py), whether the API is the simulator (simulated.py), callbacks."""
