"""Session recordings: the recorder, the `.h3rec` format and its reader (may import venue).

See `hip3term.recording.format` for the file layout.
"""
