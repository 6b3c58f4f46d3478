//! Sans-IO y-websocket protocol core (owned by the live-documents work).
