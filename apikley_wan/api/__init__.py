"""The apikley protocol (client.py), which hosts are local, whether the API is the simulator, and callbacks."""
