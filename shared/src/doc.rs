//! Circuit document schema on top of yrs (owned by the live-documents work).
